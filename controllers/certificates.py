"""The certificate controllers (pkg/controller/certificates):

- ``csrapproving`` (approver/sarapprove.go): a pending kubelet client CSR (signer
  kubernetes.io/kube-apiserver-client-kubelet, O=system:nodes, CN=system:node:<name>, no
  SANs, usages digital signature + client auth [+ key encipherment]) is approved when a
  SubjectAccessReview says its requester may create certificatesigningrequests/
  selfnodeclient (a node renewing its own: username == CN) or /nodeclient (a bootstrap
  token), with reason AutoApproved;
- ``csrsigning`` (signer/signer.go): an approved, not failed CSR of
  kubernetes.io/kube-apiserver-client-kubelet, kubernetes.io/kubelet-serving or
  kubernetes.io/kube-apiserver-client is issued by the cluster CA
  (--cluster-signing-cert-file / --cluster-signing-key-file) for
  min(spec.expirationSeconds, --cluster-signing-duration); a request its signer's rules
  refuse gets Failed/SignerValidationFailure;
- ``csrcleaner`` (cleaner/cleaner.go): issued or denied CSRs go after an hour, pending ones
  after a day.
"""

from __future__ import annotations

import base64
import datetime
import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

import pki
from api.models.certificates import (
    APPROVED,
    DENIED,
    FAILED,
    KUBE_APISERVER_CLIENT,
    KUBE_APISERVER_CLIENT_KUBELET,
    KUBELET_SERVING,
    CertificateSigningRequest,
    CertificateSigningRequestCondition,
    CertificateSigningRequestStatus,
)
from api.resources import CERTIFICATESIGNINGREQUESTS
from api.timeutil import now, parse_time_or_none
from client import AsyncClient, NotFound
from client.controller import Controller, Result
from controllers.context import ControllerContext, retry_conflicts
from pki.csr import sign_request

log = logging.getLogger(__name__)

NODE_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
DEFAULT_SIGNING_DURATION = 365 * 24 * 3600.0


def parse(csr: CertificateSigningRequest) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(base64.b64decode(csr.spec.request))


def _subject(req: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    cn = req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cn[0].value) if cn else ""), [str(o.value) for o in orgs]


def _sans(req: x509.CertificateSigningRequest) -> tuple[list[str], list[str], bool]:
    """(DNS names, IP addresses, has emails or URIs)."""
    try:
        ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], False
    other = bool(ext.get_values_for_type(x509.RFC822Name)
                 or ext.get_values_for_type(x509.UniformResourceIdentifier))
    return (list(ext.get_values_for_type(x509.DNSName)),
            [str(i) for i in ext.get_values_for_type(x509.IPAddress)], other)


def _usage_error(usages: list[str], required: set[str], allowed: set[str]) -> str | None:
    for u in usages:
        if u not in allowed:
            return f"usages did not match {sorted(allowed)}"
    if not required <= set(usages):
        return f"usages did not match {sorted(allowed)}"
    return None


def kubelet_client_error(req: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """ValidateKubeletClientCSR: None when the request is a kubelet's client request."""
    cn, orgs = _subject(req)
    if orgs != [NODE_GROUP]:
        return "subject organization is not system:nodes"
    dns, ips, other = _sans(req)
    if dns:
        return "dnsNames are not allowed"
    if ips:
        return "ipAddresses are not allowed"
    if other:
        return "emailAddresses and uris are not allowed"
    if not cn.startswith(NODE_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    return _usage_error(usages, {"digital signature", "client auth"},
                        {"digital signature", "client auth", "key encipherment"})


def kubelet_serving_error(req: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """ValidateKubeletServingCSR."""
    cn, orgs = _subject(req)
    if orgs != [NODE_GROUP]:
        return "subject organization is not system:nodes"
    dns, ips, other = _sans(req)
    if other:
        return "emailAddresses and uris are not allowed"
    if not dns and not ips:
        return "at least one of dnsNames or ipAddresses must be specified"
    if not cn.startswith(NODE_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    return _usage_error(usages, {"digital signature", "server auth"},
                        {"digital signature", "server auth", "key encipherment"})


def apiserver_client_error(req: x509.CertificateSigningRequest,
                           usages: list[str]) -> str | None:
    """validAPIServerClientUsages."""
    for u in usages:
        if u not in ("digital signature", "key encipherment", "client auth"):
            return f"invalid usage for client certificate: {u}"
    if "client auth" not in usages:
        return "missing required usages: client auth"
    return None


SIGNERS = {KUBE_APISERVER_CLIENT_KUBELET: kubelet_client_error,
           KUBELET_SERVING: kubelet_serving_error,
           KUBE_APISERVER_CLIENT: apiserver_client_error}


def _has(csr: CertificateSigningRequest, type_: str) -> bool:
    c = csr.condition(type_)
    return c is not None and c.status == "True"


def _csr_path(name: str) -> str:
    return CERTIFICATESIGNINGREQUESTS.object_path(name)


class CSRApprovingController:
    name = "csrapproving"
    # (subresource, message): selfnodeclient first, as the approver's recognizers
    RECOGNIZERS = (
        ("selfnodeclient", "Auto approving self kubelet client certificate after "
                           "SubjectAccessReview."),
        ("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview."),
    )

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.informer = ctx.factory.informer(CertificateSigningRequest)
        self.store = self.informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(lambda o: self.controller.enqueue(o.metadata.name or ""),
                                  lambda _o, n: self.controller.enqueue(n.metadata.name or ""),
                                  None)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    async def _authorized(self, csr: CertificateSigningRequest, subresource: str) -> bool:
        spec = csr.spec
        review: dict[str, Any] = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": spec.username or "", "uid": spec.uid or "",
                     "groups": spec.groups or [], "extra": spec.extra or {},
                     "resourceAttributes": {"group": "certificates.k8s.io",
                                            "resource": "certificatesigningrequests",
                                            "verb": "create", "subresource": subresource,
                                            "version": "*"}}}
        out = await self.client.request(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
        return bool(isinstance(out, dict) and (out.get("status") or {}).get("allowed"))

    async def reconcile(self, key: str) -> Result | None:
        csr = self.store.get(key)
        if csr is None or (csr.status is not None and csr.status.certificate):
            return None
        if csr.condition(APPROVED) is not None or csr.condition(DENIED) is not None:
            return None
        if csr.spec.signer_name != KUBE_APISERVER_CLIENT_KUBELET:
            return None
        try:
            req = parse(csr)
        except ValueError as e:
            log.warning("unable to parse csr %q: %s", key, e)
            return None
        if kubelet_client_error(req, list(csr.spec.usages or [])) is not None:
            return None
        cn, _ = _subject(req)
        tried = []
        for sub, message in self.RECOGNIZERS:
            if sub == "selfnodeclient" and csr.spec.username != cn:
                continue
            tried.append(sub)
            if await self._authorized(csr, sub):
                obj = csr.copy_deep()
                st = obj.status or CertificateSigningRequestStatus()
                st.conditions = [*(st.conditions or []), CertificateSigningRequestCondition(
                    type=APPROVED, status="True", reason="AutoApproved", message=message,
                    last_update_time=now())]
                obj.status = st
                try:
                    await self.client.request("PUT", _csr_path(key) + "/approval",
                                              json=obj.to_dict())
                except NotFound:
                    return None
                log.info("approved csr %s (%s)", key, sub)
                return None
        if tried:
            log.info("recognized csr %q as %s but subject access review was not approved",
                     key, tried)
        return None


class CSRSigningController:
    name = "csrsigning"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        opts = ctx.options
        self.duration = datetime.timedelta(seconds=opts.cluster_signing_duration)
        self.ca: pki.KeyCert | None = None
        if opts.cluster_signing_cert_file and opts.cluster_signing_key_file:
            try:
                with open(opts.cluster_signing_cert_file, "rb") as c, \
                        open(opts.cluster_signing_key_file, "rb") as k:
                    self.ca = pki.KeyCert(k.read(), c.read())
                self.ca.cert  # noqa: B018  (a certificate that does not parse: off, said once)
            except (OSError, ValueError) as e:
                log.error("csrsigning off: cannot load the signing CA: %s", e)
                self.ca = None
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.parts: list[Controller] = []
        if self.ca is None:
            return
        self.parts = [self.controller]
        self.informer = ctx.factory.informer(CertificateSigningRequest)
        self.store = self.informer.store
        self.informer.add_handler(lambda o: self.controller.enqueue(o.metadata.name or ""),
                                  lambda _o, n: self.controller.enqueue(n.metadata.name or ""),
                                  None)

    @property
    def controllers(self) -> list[Controller]:
        return self.parts

    async def reconcile(self, key: str) -> Result | None:
        csr = self.store.get(key)
        if csr is None or self.ca is None:
            return None
        if not csr.is_approved() or _has(csr, FAILED):
            return None
        if csr.status is not None and csr.status.certificate:
            return None
        check = SIGNERS.get(csr.spec.signer_name)
        if check is None:
            return None
        obj = csr.copy_deep()
        st = obj.status or CertificateSigningRequestStatus()
        obj.status = st
        usages = list(csr.spec.usages or [])
        try:
            req = parse(csr)
        except ValueError as e:
            log.warning("unable to parse csr %q: %s", key, e)
            return None
        err = check(req, usages)
        if err is not None:
            st.conditions = [*(st.conditions or []), CertificateSigningRequestCondition(
                type=FAILED, status="True", reason="SignerValidationFailure", message=err,
                last_update_time=now())]
        else:
            duration = self.duration
            if csr.spec.expiration_seconds is not None:
                duration = min(duration, datetime.timedelta(
                    seconds=csr.spec.expiration_seconds))
            cert = sign_request(self.ca, req, usages, duration)
            st.certificate = base64.b64encode(cert).decode()
        try:
            await self.client.update_status(obj)
        except NotFound:
            return None
        if err is None:
            log.info("signed csr %s (%s)", key, csr.spec.signer_name)
        return None


class CSRCleanerController:
    """Approved-and-issued or denied CSRs go after an hour, failed ones too, pending ones
    after a day (cleaner.go's approvedExpiration, deniedExpiration, pendingExpiration);
    checked every hour and when a CSR changes."""

    name = "csrcleaner"
    APPROVED_TTL = 3600.0
    DENIED_TTL = 3600.0
    PENDING_TTL = 24 * 3600.0

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.client: AsyncClient = ctx.client
        self.informer = ctx.factory.informer(CertificateSigningRequest, resync_period=3600.0)
        self.store = self.informer.store
        self.controller = Controller(self.name, self.reconcile,
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(lambda o: self.controller.enqueue(o.metadata.name or ""),
                                  lambda _o, n: self.controller.enqueue(n.metadata.name or ""),
                                  None)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _age_limit(self, csr: CertificateSigningRequest) -> tuple[str | None, float]:
        issued = csr.status is not None and bool(csr.status.certificate)
        for t, ttl in ((DENIED, self.DENIED_TTL), (FAILED, self.DENIED_TTL)):
            c = csr.condition(t)
            if c is not None:
                return c.last_update_time, ttl
        approved = csr.condition(APPROVED)
        if issued and approved is not None:
            return approved.last_update_time, self.APPROVED_TTL
        return csr.metadata.creation_timestamp, self.PENDING_TTL

    async def reconcile(self, key: str) -> Result | None:
        csr = self.store.get(key)
        if csr is None:
            return None
        since, ttl = self._age_limit(csr)
        t = parse_time_or_none(since)
        if t is None:
            return None
        left = ttl - (datetime.datetime.now(datetime.UTC) - t).total_seconds()
        if left > 0:
            return Result(requeue_after=left)
        try:
            await self.client.delete(CertificateSigningRequest, key)
            log.info("deleted csr %s (older than %ds)", key, int(ttl))
        except NotFound:
            pass
        return None
