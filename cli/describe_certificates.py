"""``minictl describe certificatesigningrequest``, as kubectl's
describeCertificateSigningRequest: the requester, signer, requested duration, the approval
state, the request's subject and subject alternative names, then the events."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.x509.oid import NameOID

from api.models.certificates import CertificateSigningRequest
from api.models.core import TypedObject
from api.timeutil import human_duration
from cli.context import State
from cli.describe import (
    EXTRA_DESCRIBERS,
    NONE,
    Writer,
    _annotations,
    events_for,
    events_section,
    fmt_time,
)


def csr_status(csr: CertificateSigningRequest) -> str:
    """extractCSRStatus."""
    out = "Denied" if csr.is_denied() else "Approved" if csr.condition("Approved") else \
        "Pending"
    if csr.condition("Failed") is not None:
        out += ",Failed"
    if csr.status is not None and csr.status.certificate:
        out += ",Issued"
    return out


_SUBJECT = (("Organization", NameOID.ORGANIZATION_NAME),
            ("Organizational Unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
            ("Country", NameOID.COUNTRY_NAME), ("Locality", NameOID.LOCALITY_NAME),
            ("Province", NameOID.STATE_OR_PROVINCE_NAME),
            ("StreetAddress", NameOID.STREET_ADDRESS), ("PostalCode", NameOID.POSTAL_CODE))


def _tab_block(rows: list[tuple[str, str]], first: int) -> list[str]:
    """Lines ``<first spaces><title:><pad><value>`` as tabwriter lays out "\\tTitle:\\tvalue"
    (a value list continues on lines of their own under the first)."""
    width = max(len(t) + 1 for t, _ in rows if t) + 2
    out = []
    for title, value in rows:
        cell = f"{title}:" if title else ""
        out.append(" " * first + cell.ljust(width) + value)
    return out


def describe_csr(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, CertificateSigningRequest)
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.map(0, "Labels", obj.metadata.labels)
    _annotations(w, obj)
    w.kv(0, "CreationTimestamp", fmt_time(obj.metadata.creation_timestamp))
    w.kv(0, "Requesting User", obj.spec.username or "")
    if obj.spec.signer_name:
        w.kv(0, "Signer", obj.spec.signer_name)
    if obj.spec.expiration_seconds is not None:
        w.kv(0, "Requested Duration", human_duration(obj.spec.expiration_seconds))
    w.kv(0, "Status", csr_status(obj))
    text = w.render()
    try:
        req = x509.load_pem_x509_csr(base64.b64decode(obj.spec.request))
    except ValueError as e:
        return text + f"Error parsing the request: {e}\n"
    rows: list[tuple[str, str]] = []

    def values(title: str, items: list[str]) -> None:
        for i, v in enumerate(items):
            rows.append((title if i == 0 else "", v))

    subj = req.subject
    cn = subj.get_attributes_for_oid(NameOID.COMMON_NAME)
    sn = subj.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    rows.append(("Common Name", str(cn[0].value) if cn else ""))
    rows.append(("Serial Number", str(sn[0].value) if sn else ""))
    for title, oid in _SUBJECT:
        values(title, [str(a.value) for a in subj.get_attributes_for_oid(oid)])
    try:
        san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    san_rows: list[tuple[str, str]] = []
    if san is not None:
        for title, kind in (("DNS Names", x509.DNSName), ("Email Addresses", x509.RFC822Name),
                            ("IP Addresses", x509.IPAddress),
                            ("URIs", x509.UniformResourceIdentifier)):
            items = [str(v) for v in san.get_values_for_type(kind)]
            for i, v in enumerate(items):
                san_rows.append((title if i == 0 else "", v))
    events = events_for(st, obj)
    # "Events:\t<none>" shares the first column with the indented rows (tabwriter)
    first = len("Events:") + 2 if events is not None and not events else 2
    # a header line between two blocks ends the first one's columns
    out = text + "Subject:\n" + "\n".join(_tab_block(rows, 2 if san_rows else first)) + "\n"
    if san_rows:
        out += "Subject Alternative Names:\n" + "\n".join(_tab_block(san_rows, first)) + "\n"
    if events is not None and not events:
        return out + f"{'Events:'.ljust(first)}{NONE}\n"
    return out + events_section(events)


EXTRA_DESCRIBERS.update({CertificateSigningRequest: describe_csr})
