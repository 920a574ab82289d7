"""kubelet/auth.py: the kubelet API's request attributes (Kubernetes' auth.go), its flags,
and the filter on a kubelet in this process (fake runtime, plain HTTP): without
credentials, ``--anonymous-auth=false`` is 401; by default (anonymous, AlwaysAllow) the API
is open as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kubelet.agent import KubeletAgent
from kubelet.auth import AuthConfig, parse_duration, request_attributes
from kubelet.kubelet import KubeletConfig
from kubelet.main import parse_args
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.support import free_port, unique


@pytest.mark.parametrize(("method", "path", "verb", "subs"), [
    ("GET", "/stats/summary", "get", ("stats",)),
    ("GET", "/stats", "get", ("stats",)),
    ("GET", "/metrics", "get", ("metrics",)),
    ("GET", "/metrics/cadvisor", "get", ("metrics",)),
    ("GET", "/logs/syslog", "get", ("log",)),
    ("GET", "/spec/", "get", ("spec",)),
    ("POST", "/checkpoint/ns/pod/c", "create", ("checkpoint",)),
    ("GET", "/pods", "get", ("pods", "proxy")),
    ("GET", "/runningpods/", "get", ("pods", "proxy")),
    ("GET", "/healthz", "get", ("healthz", "proxy")),
    ("GET", "/configz", "get", ("configz", "proxy")),
    ("GET", "/containerLogs/ns/pod/c", "get", ("proxy",)),
    ("POST", "/exec/ns/pod/c", "create", ("proxy",)),
    ("GET", "/exec/ns/pod/c", "get", ("proxy",)),
    ("POST", "/portForward/ns/pod", "create", ("proxy",)),
    ("POST", "/run/ns/pod/c", "create", ("proxy",)),
    ("GET", "/statsx", "get", ("proxy",)),  # a subpath is /stats or /stats/..., not /statsx
    ("PUT", "/x", "update", ("proxy",)),
    ("PATCH", "/x", "patch", ("proxy",)),
    ("DELETE", "/x", "delete", ("proxy",)),
])
def test_request_attributes(method: str, path: str, verb: str, subs: tuple[str, ...]) -> None:
    assert request_attributes(method, path) == (verb, subs)


def test_durations() -> None:
    assert parse_duration("2m0s") == 120
    assert parse_duration("30s") == 30
    assert parse_duration("1h5m") == 3900
    assert parse_duration("500ms") == 0.5
    assert parse_duration("0") == 0
    for bad in ("2", "m", "1d", "5m junk"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_flags() -> None:
    a = parse_args([])
    assert a.auth == AuthConfig()  # anonymous, AlwaysAllow: nothing checked
    assert not a.auth.enabled and a.tls_cert_file is None and a.healthz_port == 10248
    a = parse_args(["--anonymous-auth=false", "--authorization-mode", "Webhook",
                    "--authentication-token-webhook", "--client-ca-file", "/ca.crt",
                    "--authentication-token-webhook-cache-ttl", "10s",
                    "--authorization-webhook-cache-authorized-ttl", "1m",
                    "--authorization-webhook-cache-unauthorized-ttl", "0"])
    assert a.auth == AuthConfig(anonymous=False, client_ca=True, token_webhook=True,
                                token_ttl=10, mode="Webhook", authorized_ttl=60,
                                unauthorized_ttl=0)
    assert a.auth.enabled
    for bad in (["--tls-cert-file", "/x.crt"], ["--authorization-mode", "RBAC"],
                ["--authorization-webhook-cache-authorized-ttl", "forever"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


async def _agent(server: str, auth: AuthConfig) -> KubeletAgent:
    def factory(_: str) -> ContainerRuntime:
        return FakeRuntime()
    cfg = KubeletConfig(node_name=unique("anode"), port=free_port(), relist_seconds=1.0)
    agent = KubeletAgent(server, factory, cfg, bind_address="127.0.0.1", auth=auth)
    await agent.start()
    return agent


@pytest.fixture
async def locked(server_url: str) -> AsyncIterator[str]:
    agent = await _agent(server_url, AuthConfig(anonymous=False))
    yield f"http://127.0.0.1:{agent.config.port}"
    await agent.stop()


@pytest.fixture
async def open_(server_url: str) -> AsyncIterator[str]:
    agent = await _agent(server_url, AuthConfig())
    yield f"http://127.0.0.1:{agent.config.port}"
    await agent.stop()


async def test_anonymous_off_is_401(locked: str) -> None:
    async with httpx.AsyncClient(base_url=locked, timeout=10) as c:
        for path in ("/pods", "/healthz", "/stats/summary", "/metrics",
                     "/containerLogs/default/p/c", "/exec/default/p/c?command=ls"):
            r = await c.get(path)
            assert (r.status_code, r.text) == (401, "Unauthorized"), path
        # a token without the token webhook proves nothing
        r = await c.get("/pods", headers={"Authorization": "Bearer sometoken"})
        assert r.status_code == 401
        r = await c.get("/pods", headers={
            "Sec-WebSocket-Protocol": "base64url.bearer.authorization.k8s.io.c29tZQ"})
        assert r.status_code == 401


async def test_defaults_keep_the_api_open(open_: str) -> None:
    async with httpx.AsyncClient(base_url=open_, timeout=10) as c:
        r = await c.get("/pods")
        assert r.status_code == 200 and r.json()["kind"] == "PodList"
        assert (await c.get("/healthz")).text == "ok"
