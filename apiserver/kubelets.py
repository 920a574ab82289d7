"""How the API server reaches a node's kubelet (Kubernetes' pkg/kubelet/client): the one
place that builds a kubelet's URL and the TLS context to it, for pods/log, pods/exec,
attach and portforward, nodes/proxy and the metrics API's scrapes.

The address is the node's first address of ``--kubelet-preferred-address-types`` (default
Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP, as kube-apiserver), the port its
``status.daemonEndpoints.kubeletEndpoint.Port``. Unlike Kubernetes, a Hostname/DNS address
that does not resolve here is passed over for the next type (test nodes are named what no
resolver knows); lookups are cached.

HTTPS when the API server has a kubelet client certificate (``--kubelet-client-certificate``
/``--kubelet-client-key``, kubeadm's apiserver-kubelet-client, O=system:masters) or
``--kubelet-https=true``: the certificate is presented, and the kubelet's serving
certificate verified against ``--kubelet-certificate-authority`` (without one it is not
verified, as kube-apiserver does). Plain HTTP otherwise (kubelets without TLS).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
DEFAULT_PREFERRED = ADDRESS_TYPES
_NAMED = ("Hostname", "InternalDNS", "ExternalDNS")
RESOLVE_TIMEOUT = 2.0
RESOLVED_TTL = 60.0
UNRESOLVED_TTL = 300.0


@dataclass(frozen=True)
class KubeletClientConfig:
    preferred_address_types: tuple[str, ...] = DEFAULT_PREFERRED
    https: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.https or self.cert_file else "http"


def parse_address_types(raw: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    bad = [t for t in types if t not in ADDRESS_TYPES]
    if bad or not types:
        raise ValueError(f"--kubelet-preferred-address-types: unknown type(s) {bad or raw!r}; "
                         f"known: {', '.join(ADDRESS_TYPES)}")
    return types


class KubeletClient:
    def __init__(self, config: KubeletClientConfig) -> None:
        self.config = config
        self._ssl: ssl.SSLContext | None = None
        self._resolved: dict[str, tuple[float, bool]] = {}

    @property
    def scheme(self) -> str:
        return self.config.scheme

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context to the kubelets (made once), None for plain HTTP."""
        if self.scheme != "https":
            return None
        if self._ssl is None:
            c = self.config
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=c.ca_file)
            if not c.ca_file:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if c.cert_file:
                ctx.load_cert_chain(c.cert_file, c.key_file)
            self._ssl = ctx
        return self._ssl

    def aiohttp_ssl(self) -> ssl.SSLContext | bool:
        """The ``ssl=`` argument of an aiohttp request to a kubelet."""
        ctx = self.ssl_context()
        return ctx if ctx is not None else True

    async def base_url(self, node: dict[str, Any]) -> str | None:
        """``scheme://host:port`` of the node's kubelet, None when it reports no address or
        port."""
        status = node.get("status") or {}
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        if not port:
            return None
        host = await self.preferred_address(status.get("addresses") or [])
        if not host:
            return None
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{int(port)}"

    async def preferred_address(self, addrs: Sequence[Any]) -> str | None:
        for t in self.config.preferred_address_types:
            for a in addrs:
                if isinstance(a, dict) and a.get("type") == t and a.get("address"):
                    address = str(a["address"])
                    if t not in _NAMED or await self._resolves(address):
                        return address
        return None

    async def _resolves(self, host: str) -> bool:
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            pass
        now = time.monotonic()
        hit = self._resolved.get(host)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
            ok = True
        except (OSError, TimeoutError, UnicodeError):
            ok = False
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[host] = (now + (RESOLVED_TTL if ok else UNRESOLVED_TTL), ok)
        return ok


_CURRENT = KubeletClient(KubeletClientConfig())


def configure(cfg: Any) -> KubeletClient:
    """The kubelet client of this API server's config (apiserver.config.Config), made the
    process's current one (the API server's app does this once at creation)."""
    global _CURRENT
    _CURRENT = KubeletClient(KubeletClientConfig(
        preferred_address_types=tuple(cfg.kubelet_preferred_address_types),
        https=bool(cfg.kubelet_https), cert_file=cfg.kubelet_client_certificate,
        key_file=cfg.kubelet_client_key, ca_file=cfg.kubelet_certificate_authority))
    return _CURRENT


def current() -> KubeletClient:
    """The API server's kubelet client (plain HTTP, default address types, until configured)."""
    return _CURRENT


async def kubelet_url(node: dict[str, Any]) -> str | None:
    """``scheme://host:port`` of the node's kubelet (see KubeletClient.base_url)."""
    return await _CURRENT.base_url(node)


def add_flags(p: Any) -> None:
    """kube-apiserver's kubelet client flags (argparse)."""
    p.add_argument("--kubelet-preferred-address-types", default=",".join(DEFAULT_PREFERRED),
                   help="the node address types tried in order to reach a kubelet")
    p.add_argument("--kubelet-client-certificate", default=None,
                   help="client certificate presented to kubelets (implies HTTPS)")
    p.add_argument("--kubelet-client-key", default=None)
    p.add_argument("--kubelet-certificate-authority", default=None,
                   help="CA that signed the kubelets' serving certificates (else they are "
                        "not verified)")
    p.add_argument("--kubelet-https", default="false", choices=["true", "false"],
                   help="reach kubelets over HTTPS even without a client certificate")


def config_kwargs(p: Any, a: Any) -> dict[str, Any]:
    """The Config fields of add_flags' flags; a bad value is the parser's error."""
    try:
        types = parse_address_types(a.kubelet_preferred_address_types)
    except ValueError as e:
        p.error(str(e))
    if bool(a.kubelet_client_certificate) != bool(a.kubelet_client_key):
        p.error("--kubelet-client-certificate and --kubelet-client-key go together")
    return {"kubelet_preferred_address_types": types,
            "kubelet_https": a.kubelet_https == "true",
            "kubelet_client_certificate": a.kubelet_client_certificate,
            "kubelet_client_key": a.kubelet_client_key,
            "kubelet_certificate_authority": a.kubelet_certificate_authority}
