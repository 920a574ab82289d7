"""The certificate admission plugins (plugin/pkg/admission/certificates):

- CertificateApproval: approving or denying a CSR (its /approval subresource) needs the
  ``approve`` verb on ``signers`` (certificates.k8s.io) named by its signerName, or by
  ``<domain>/*``;
- CertificateSigning: setting or changing status.certificate (its /status subresource)
  needs ``sign`` on the signer the same way;
- CertificateSubjectRestriction: no request to kubernetes.io/kube-apiserver-client for a
  subject in system:masters.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from apiserver.admission_plugins import CREATE, UPDATE, AdmissionRequest, Plugin, register_plugin
from apiserver.auth.attributes import Attributes
from apiserver.auth.authorizer import Decision
from apiserver.auth.user import UserInfo

GROUP = "certificates.k8s.io"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"


def _signer(obj: Any) -> str:
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return str(spec.get("signerName") or "") if isinstance(spec, dict) else ""


class _SignerPermission(Plugin):
    operations = frozenset({UPDATE})
    resources = frozenset({"certificatesigningrequests"})
    verb = ""

    def __init__(self, state: Any) -> None:
        self.state = state

    def allowed(self, user: UserInfo, signer: str) -> bool:
        """IsAuthorizedForSignerName: the signer's name, then ``<domain>/*``."""
        authz = getattr(self.state, "authorizer", None)
        if authz is None or user.is_superuser():
            return True
        names = [signer]
        if "/" in signer:
            names.append(signer.split("/", 1)[0] + "/*")
        for n in names:
            attrs = Attributes(user=user, verb=self.verb, resource_request=True,
                               api_group=GROUP, api_version="*", resource="signers", name=n)
            if authz.authorize(attrs)[0] is Decision.ALLOW:
                return True
        return False


class CertificateApproval(_SignerPermission):
    name = "CertificateApproval"
    subresources = frozenset({"approval"})
    verb = "approve"

    async def validate(self, req: AdmissionRequest) -> None:
        if req.subresource != "approval":
            return
        signer = _signer(req.obj)
        if not self.allowed(req.user, signer):
            raise req.forbidden(f'user not permitted to approve requests with signerName '
                                f'"{signer}"')


class CertificateSigning(_SignerPermission):
    name = "CertificateSigning"
    subresources = frozenset({"status"})
    verb = "sign"

    async def validate(self, req: AdmissionRequest) -> None:
        if req.subresource != "status":
            return
        new = (req.obj or {}).get("status") or {}
        old = (req.old or {}).get("status") or {}
        if new.get("certificate") == old.get("certificate"):
            return
        signer = _signer(req.obj)
        if not self.allowed(req.user, signer):
            raise req.forbidden(f'user not permitted to sign requests with signerName '
                                f'"{signer}"')


class CertificateSubjectRestriction(Plugin):
    name = "CertificateSubjectRestriction"
    operations = frozenset({CREATE})
    resources = frozenset({"certificatesigningrequests"})

    def __init__(self, state: Any) -> None:
        pass

    async def validate(self, req: AdmissionRequest) -> None:
        if _signer(req.obj) != KUBE_APISERVER_CLIENT:
            return
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        try:
            raw = base64.b64decode(str(((req.obj or {}).get("spec") or {}).get("request")))
            csr = x509.load_pem_x509_csr(raw)
        except (binascii.Error, ValueError, TypeError):
            return  # validation names the bad request
        orgs = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if "system:masters" in orgs:
            raise req.forbidden(f"use of {KUBE_APISERVER_CLIENT} signer with system:masters "
                                "group is not allowed")


register_plugin(CertificateApproval.name, CertificateApproval)
register_plugin(CertificateSigning.name, CertificateSigning)
register_plugin(CertificateSubjectRestriction.name, CertificateSubjectRestriction)
