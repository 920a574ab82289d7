"""apiserver/kubelets.py without servers: which address of a Node the API server dials
(--kubelet-preferred-address-types), with which scheme, and the flags' checks."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.kubelets import (
    DEFAULT_PREFERRED,
    KubeletClient,
    KubeletClientConfig,
    parse_address_types,
)
from apiserver.main import parse_args


def node(*addresses: tuple[str, str], port: int | None = 10250) -> dict[str, Any]:
    status: dict[str, Any] = {"addresses": [{"type": t, "address": a} for t, a in addresses]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": "n"}, "status": status}


async def test_preferred_address_kubernetes_order() -> None:
    kc = KubeletClient(KubeletClientConfig())
    assert kc.config.preferred_address_types == (
        "Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
    # a resolvable Hostname first, as kube-apiserver's default
    assert await kc.base_url(node(("InternalIP", "10.0.0.5"), ("Hostname", "localhost"))) \
        == "http://localhost:10250"
    # a Hostname no resolver knows is passed over for the next type
    assert await kc.base_url(node(("InternalIP", "10.0.0.5"),
                                  ("Hostname", "no-such-node.invalid"))) \
        == "http://10.0.0.5:10250"
    assert await kc.base_url(node(("ExternalIP", "2001:db8::1"))) \
        == "http://[2001:db8::1]:10250"
    assert await kc.base_url(node(("InternalIP", "10.0.0.5"), port=None)) is None
    assert await kc.base_url(node(("Hostname", "no-such-node.invalid"))) is None


async def test_types_in_the_order_given_and_https() -> None:
    kc = KubeletClient(KubeletClientConfig(
        preferred_address_types=("InternalIP", "Hostname"), https=True))
    assert kc.scheme == "https" and kc.ssl_context() is not None
    assert await kc.base_url(node(("Hostname", "localhost"), ("InternalIP", "10.0.0.5"))) \
        == "https://10.0.0.5:10250"
    # ExternalIP is not among the types asked for
    assert await kc.base_url(node(("ExternalIP", "192.0.2.1"))) is None
    plain = KubeletClient(KubeletClientConfig())
    assert plain.ssl_context() is None and plain.aiohttp_ssl() is True


def test_flags() -> None:
    c = parse_args([])
    assert tuple(c.kubelet_preferred_address_types) == DEFAULT_PREFERRED
    assert not c.kubelet_https and c.kubelet_client_certificate is None
    c = parse_args(["--kubelet-preferred-address-types", "InternalIP,Hostname",
                    "--kubelet-client-certificate", "/c.crt", "--kubelet-client-key", "/c.key",
                    "--kubelet-certificate-authority", "/ca.crt"])
    assert c.kubelet_preferred_address_types == ("InternalIP", "Hostname")
    assert (c.kubelet_client_certificate, c.kubelet_client_key,
            c.kubelet_certificate_authority) == ("/c.crt", "/c.key", "/ca.crt")
    with pytest.raises(ValueError, match="unknown type"):
        parse_address_types("InternalIP,Nowhere")
    for bad in (["--kubelet-preferred-address-types", "Nowhere"],
                ["--kubelet-client-certificate", "/c.crt"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
