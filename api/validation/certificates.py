"""CertificateSigningRequests: pkg/apis/certificates/validation (the request a parsable,
self-signed PKCS#10 PEM block, usages known and unique, signerName 'domain/path',
expirationSeconds >= 600, the conditions' rules, status.certificate CERTIFICATE blocks),
and the update rules: Approved/Denied/Failed never removed, an issued certificate never
replaced."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from api.names import is_dns1123_label, is_dns1123_subdomain
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    at_index,
    child,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)

KEY_USAGES = sorted((
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
    "decipher only", "any", "server auth", "client auth", "code signing", "email protection",
    "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc"))
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
_TRUE_ONLY = ("Approved", "Denied", "Failed")
_STATUS_VALUES = ["False", "True", "Unknown"]
MIN_EXPIRATION_SECONDS = 600


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_request(data: bytes) -> Any:
    """certificates.ParseCSR + CheckSignature: the x509.CertificateSigningRequest of the
    first PEM block, or ValueError with Kubernetes' message."""
    from cryptography import x509

    text = data.lstrip()
    if not text.startswith(b"-----BEGIN"):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    if not text.startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as e:
        raise ValueError(f"asn1: structure error: {e}") from None
    if not csr.is_signature_valid:
        raise ValueError("x509: ECDSA verification failure")
    return csr


def validate_signer_name(path: str, name: Any) -> Errs:
    """apivalidation.ValidateSignerName."""
    errs: Errs = []
    if not isinstance(name, str) or not name:
        return [required(path)]
    segments = name.split("/")
    if len(segments) != 2:
        errs.append(invalid(path, name, "must be a fully qualified domain and path of the "
                                        "form 'example.com/signer-name'"))
        if len(segments) < 2:
            return errs
    domain, rest = segments[0], "/".join(segments[1:])
    if len(domain) > 253:
        errs.append(too_long(path, 253))
    labels = domain.split(".")
    for lbl in labels:
        msgs = is_dns1123_label(lbl)
        if msgs:
            errs += [invalid(path, domain, f'validating label "{lbl}": {m}') for m in msgs]
            break
    if len(labels) < 2:
        errs.append(invalid(path, domain,
                            "should be a domain with at least two segments separated by dots"))
    max_path = 253 - len(domain) - 1
    if len(rest) > max_path:
        errs.append(too_long(path, max_path))
    errs += [invalid(path, rest, m) for m in is_dns1123_subdomain(rest)]
    return errs


def _validate_certificate(data: bytes) -> str | None:
    """validateCertificate: only CERTIFICATE blocks, no headers, at least one."""
    from cryptography import x509

    if not data:
        return None
    blocks = 0
    rest = data
    while True:
        start = rest.find(b"-----BEGIN ")
        if start < 0:
            break
        head_end = rest.find(b"-----", start + 11)
        if head_end < 0:
            break
        typ = rest[start + 11:head_end].decode(errors="replace")
        end_marker = b"-----END " + typ.encode() + b"-----"
        end = rest.find(end_marker, head_end)
        if end < 0:
            break
        if typ != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{typ}"'
        block = rest[start:end + len(end_marker)]
        if b":" in block:
            return "no PEM block headers are permitted"
        try:
            x509.load_pem_x509_certificate(block)
        except ValueError as e:
            return str(e)
        blocks += 1
        rest = rest[end + len(end_marker):]
    if blocks == 0:
        return "must contain at least one CERTIFICATE PEM block"
    return None


def _conditions(errs: Errs, status: JSON) -> None:
    path = "status.conditions"
    seen: set[str] = set()
    approved = denied = False
    for i, c in enumerate(as_list(errs, status.get("conditions"), path)):
        p = at_index(path, i)
        c = as_dict(errs, c, p)
        typ = c.get("type")
        if not typ:
            errs.append(required(child(p, "type")))
        allowed = ["True"] if typ in _TRUE_ONLY else _STATUS_VALUES
        st = c.get("status")
        if not st:
            errs.append(required(child(p, "status")))
        elif st not in allowed:
            errs.append(not_supported(child(p, "status"), st, allowed))
        if typ == "Approved":
            approved = True
            if denied:
                errs.append(invalid(child(p, "type"), typ,
                                    "Approved and Denied conditions are mutually exclusive"))
        elif typ == "Denied":
            denied = True
            if approved:
                errs.append(invalid(child(p, "type"), typ,
                                    "Approved and Denied conditions are mutually exclusive"))
        if isinstance(typ, str) and typ:
            if typ in seen:
                errs.append(duplicate(child(p, "type"), typ))
            seen.add(typ)


def validate_certificate_signing_request(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    raw = spec.get("request")
    data = _b64(raw)
    if not raw:
        errs.append(invalid("spec.request", "", "PEM block type must be CERTIFICATE REQUEST"))
    elif data is None:
        errs.append(invalid("spec.request", raw, "illegal base64 data"))
    else:
        try:
            parse_request(data)
        except ValueError as e:
            errs.append(invalid("spec.request", "<request data>", str(e)))
    usages = as_list(errs, spec.get("usages"), "spec.usages")
    if not usages:
        errs.append(required("spec.usages"))
    seen: set[str] = set()
    for i, u in enumerate(usages):
        p = at_index("spec.usages", i)
        if u not in KEY_USAGES:
            errs.append(not_supported(p, u, KEY_USAGES))
        if isinstance(u, str):
            if u in seen:
                errs.append(duplicate(p, u))
            seen.add(u)
    signer = spec.get("signerName")
    if signer == LEGACY_UNKNOWN_SIGNER:
        errs.append(invalid("spec.signerName", signer,
                            "the legacy signerName is not allowed via this API version"))
    else:
        errs += validate_signer_name("spec.signerName", signer)
    exp = spec.get("expirationSeconds")
    if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
        errs.append(invalid("spec.expirationSeconds", exp, "must be an integer"))
    elif exp is not None and exp < MIN_EXPIRATION_SECONDS:
        errs.append(invalid("spec.expirationSeconds", exp,
                            "may not specify a duration less than 600 seconds (10 minutes)"))
    status = obj.get("status")
    if status is not None:
        st = as_dict(errs, status, "status")
        _conditions(errs, st)
        cert = st.get("certificate")
        if cert:
            cdata = _b64(cert)
            msg = "illegal base64 data" if cdata is None else _validate_certificate(cdata)
            if msg:
                errs.append(invalid("status.certificate", "<certificate data>", msg))
    return errs


def _find(obj: JSON, typ: str) -> list[Any]:
    st = obj.get("status")
    conds = st.get("conditions") if isinstance(st, dict) else None
    return [c for c in (conds if isinstance(conds, list) else [])
            if isinstance(c, dict) and c.get("type") == typ]


def validate_certificate_signing_request_update(old: JSON, new: JSON) -> Errs:
    """validateCertificateSigningRequestUpdate: what no write may do. (Which conditions a
    write may add is the strategy's: a main-resource write keeps the status, /status keeps
    Approved and Denied, /approval keeps the certificate and the other conditions.)"""
    errs: Errs = []
    for t in ("Approved", "Denied", "Failed"):
        if len(_find(new, t)) < len(_find(old, t)):
            errs.append(forbidden("status.conditions",
                                  f'updates may not remove a condition of type "{t}"'))
    old_cert = (old.get("status") or {}).get("certificate") if isinstance(
        old.get("status"), dict) else None
    new_cert = (new.get("status") or {}).get("certificate") if isinstance(
        new.get("status"), dict) else None
    if old_cert and new_cert != old_cert:
        errs.append(forbidden("status.certificate",
                              "updates may not modify existing certificate content"))
    return errs
