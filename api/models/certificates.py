"""certificates.k8s.io/v1 CertificateSigningRequest (k8s.io/api/certificates/v1/types.go):
a PKCS#10 request for a signer, approved or denied through /approval, issued through
/status by the signer."""

from __future__ import annotations

from pydantic import Field

from api.base import Int32, Model
from api.models.core import TypedObject

# The well-known signers (certificates.k8s.io/v1).
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"

APPROVED = "Approved"
DENIED = "Denied"
FAILED = "Failed"

# KeyUsage values (certificates.k8s.io/v1 KeyUsage).
KEY_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
    "decipher only", "any", "server auth", "client auth", "code signing", "email protection",
    "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
)


class CertificateSigningRequestSpec(Model):
    request: str = ""  # base64 of a PEM "CERTIFICATE REQUEST" block
    signer_name: str = ""
    expiration_seconds: Int32 | None = None
    usages: list[str] | None = None
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class CertificateSigningRequestCondition(Model):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


class CertificateSigningRequestStatus(Model):
    conditions: list[CertificateSigningRequestCondition] | None = None
    certificate: str | None = None  # base64 of PEM CERTIFICATE blocks


class CertificateSigningRequest(TypedObject):
    api_version: str | None = "certificates.k8s.io/v1"
    kind: str | None = "CertificateSigningRequest"
    spec: CertificateSigningRequestSpec = Field(default_factory=CertificateSigningRequestSpec)
    status: CertificateSigningRequestStatus | None = None

    def condition(self, type_: str) -> CertificateSigningRequestCondition | None:
        for c in (self.status.conditions if self.status else None) or []:
            if c.type == type_:
                return c
        return None

    def is_approved(self) -> bool:
        return self.condition(APPROVED) is not None and self.condition(DENIED) is None

    def is_denied(self) -> bool:
        return self.condition(DENIED) is not None

    def certificate_pem(self) -> bytes:
        import base64

        cert = self.status.certificate if self.status else None
        return base64.b64decode(cert) if cert else b""
