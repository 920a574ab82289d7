"""Authorization cost on the create path; prints one JSON document.

Two API servers over TLS (testing/secure.py), each on its own etcd: one with
``--authorization-mode=RBAC`` holding 1,000 bindings that do not concern the benchmark's
user (500 ClusterRoleBindings, 500 RoleBindings in its namespace, to other users, groups
and ServiceAccounts) plus the one RoleBinding that lets its group create pods; one with
authorization off (AlwaysAllow). The same non-admin user creates pods at concurrency 16,
authenticated by a client certificate and by a static bearer token, in alternating rounds
(so drift shows on both sides); the best round of each is compared within this run:
``ratio`` = RBAC / AlwaysAllow (goal >= 0.9). The TLS handshake of a new connection (with
one authorized GET) is reported for both ways in.

Usage: python bench/auth.py [--pods 1500] [--rounds 3] [--bindings 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tls import handshake_ms, post_concurrently  # noqa: E402
from testing.secure import SecureApiServer, StaticToken, ssl_client_context  # noqa: E402
from testing.support import Etcd, json_request, unique  # noqa: E402

NS = "bench-auth"
GROUP = "bench-creators"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
TOKEN = "bench-auth-token-0123456789abcdef"


def _ok(method: str, url: str, body: Any, want: int = 201) -> Any:
    code, out = json_request(method, url, body)
    assert code == want, (method, url, code, out)
    return out


def setup(s: SecureApiServer, bindings: int, rbac: bool) -> None:
    """The namespace and its default ServiceAccount; with ``rbac``, the bindings."""
    base = s.insecure_url
    _ok("POST", f"{base}/api/v1/namespaces", {"metadata": {"name": NS}})
    json_request("POST", f"{base}/api/v1/namespaces/{NS}/serviceaccounts",
                 {"metadata": {"name": "default"}})
    if not rbac:
        return
    _ok("POST", f"{base}{RBAC}/namespaces/{NS}/roles", {
        "metadata": {"name": "pod-creator"},
        "rules": [{"verbs": ["create", "get"], "apiGroups": [""], "resources": ["pods"]}]})
    _ok("POST", f"{base}{RBAC}/namespaces/{NS}/rolebindings", {
        "metadata": {"name": "pod-creators"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "pod-creator"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                      "name": GROUP}]})
    for i in range(bindings):
        subject = ({"kind": "User", "name": f"user-{i}"} if i % 3 == 0 else
                   {"kind": "Group", "name": f"group-{i}"} if i % 3 == 1 else
                   {"kind": "ServiceAccount", "name": f"sa-{i}", "namespace": NS})
        if i % 2:
            _ok("POST", f"{base}{RBAC}/clusterrolebindings", {
                "metadata": {"name": f"noise-{i}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "view"}, "subjects": [subject]})
        else:
            _ok("POST", f"{base}{RBAC}/namespaces/{NS}/rolebindings", {
                "metadata": {"name": f"noise-{i}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "edit"}, "subjects": [subject]})


def ways(s: SecureApiServer) -> dict[str, tuple[int, Any, dict[str, str]]]:
    user = s.user("bench-user", groups=[GROUP])
    return {
        "x509": (s.secure_port, ssl_client_context(s.ca_file, user), {}),
        "token": (s.secure_port, ssl_client_context(s.ca_file),
                  {"Authorization": f"Bearer {TOKEN}"}),
    }


async def pod_creates(port: int, ctx: Any, headers: dict[str, str], n: int,
                      server: psutil.Process, conns: int = 16) -> dict[str, Any]:
    prefix = unique("p")
    return await post_concurrently(
        port, ctx, headers, f"/api/v1/namespaces/{NS}/pods",
        lambda i: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{prefix}-{i}"},
                   "spec": {"automountServiceAccountToken": False,
                            "containers": [{"name": "c", "image": "nginx:latest"}]}},
        n, conns, server)


async def run(args: argparse.Namespace, servers: dict[str, SecureApiServer]
              ) -> dict[str, Any]:
    procs = {k: psutil.Process(s.proc.pid) for k, s in servers.items()  # type: ignore[union-attr]
             }
    w = {k: ways(s) for k, s in servers.items()}
    out: dict[str, Any] = {"pods_per_round": args.pods, "bindings": args.bindings,
                           "handshake": {}, "creates": {}}
    for mode in servers:
        for way, (port, ctx, headers) in w[mode].items():
            out["handshake"][f"{mode}/{way}"] = await handshake_ms(
                port, ctx, headers, args.connections, procs[mode])
    for i in range(args.rounds):
        for way in ("x509", "token"):
            # which server goes first alternates, so an order effect shows on both sides
            for mode in (list(servers) if i % 2 == 0 else list(servers)[::-1]):
                port, ctx, headers = w[mode][way]
                r = await pod_creates(port, ctx, headers, args.pods, procs[mode])
                out["creates"].setdefault(f"{mode}/{way}", []).append(r)
    best = {k: max(r["per_s"] for r in v) for k, v in out["creates"].items()}
    out["best_per_s"] = best
    out["ratio_rbac_to_allow"] = {
        way: round(best[f"RBAC/{way}"] / best[f"AlwaysAllow/{way}"], 3)
        for way in ("x509", "token")}
    # Server CPU per create is less sensitive than the rate to other load on the machine:
    # the least of the rounds, and AlwaysAllow's over RBAC's (1.0: authorization is free).
    least = {k: min(r["server_cpu_us_per_create"] for r in v)
             for k, v in out["creates"].items()}
    out["least_server_cpu_us_per_create"] = least
    out["cpu_ratio_allow_to_rbac"] = {
        way: round(least[f"AlwaysAllow/{way}"] / least[f"RBAC/{way}"], 3)
        for way in ("x509", "token")}
    return out


class _Cached:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj


class _Cache:
    """What RBACIndex reads of a watch cache: the objects, and no events to catch up."""

    def __init__(self, objs: dict[str, dict[str, Any]]) -> None:
        self.objects = {k: _Cached(v) for k, v in objs.items()}
        self.revision = 1
        self.window_start = 0

    def _events_after(self, rv: int) -> list[Any]:
        return []


def authorizer_micro(bindings: int, n: int = 100_000) -> dict[str, Any]:
    """The RBAC authorizer alone, in process, over the same policy: microseconds per
    decision for the benchmark's user (allowed by its RoleBinding) and for a user no
    binding names (denied after looking at every key it has)."""
    from apiserver.auth.attributes import Attributes
    from apiserver.auth.bootstrappolicy import cluster_role_bindings, cluster_roles
    from apiserver.auth.rbac import RBACAuthorizer, RBACIndex
    from apiserver.auth.user import UserInfo

    g = "rbac.authorization.k8s.io"
    crs = {f"/registry/clusterroles/{r['metadata']['name']}": r for r in cluster_roles()}
    crbs = {f"/registry/clusterrolebindings/{b['metadata']['name']}": b
            for b in cluster_role_bindings()}
    roles = {f"/registry/roles/{NS}/pod-creator": {
        "metadata": {"name": "pod-creator", "namespace": NS},
        "rules": [{"verbs": ["create", "get"], "apiGroups": [""], "resources": ["pods"]}]}}
    rbs = {f"/registry/rolebindings/{NS}/pod-creators": {
        "metadata": {"name": "pod-creators", "namespace": NS},
        "roleRef": {"apiGroup": g, "kind": "Role", "name": "pod-creator"},
        "subjects": [{"kind": "Group", "apiGroup": g, "name": GROUP}]}}
    for i in range(bindings):
        subject = {"kind": "User", "name": f"user-{i}"}
        target = crbs if i % 2 else rbs
        key = (f"/registry/clusterrolebindings/noise-{i}" if i % 2
               else f"/registry/rolebindings/{NS}/noise-{i}")
        target[key] = {"metadata": {"name": f"noise-{i}", "namespace": "" if i % 2 else NS},
                       "roleRef": {"apiGroup": g, "kind": "ClusterRole", "name": "view"},
                       "subjects": [subject]}
    caches = {"clusterroles": _Cache(crs), "roles": _Cache(roles),
              "clusterrolebindings": _Cache(crbs), "rolebindings": _Cache(rbs)}
    authz = RBACAuthorizer(RBACIndex(caches))
    out: dict[str, Any] = {}
    for label, user in (("allowed", UserInfo("bench-user", groups=(GROUP, "system:authenticated"))),
                        ("denied", UserInfo("stranger", groups=("system:authenticated",)))):
        attrs = Attributes(user, "create", True, namespace=NS, api_version="v1",
                           resource="pods")
        authz.authorize(attrs)
        t0 = time.perf_counter()
        for _ in range(n):
            authz.authorize(attrs)
        out[f"{label}_us"] = round((time.perf_counter() - t0) / n * 1e6, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pods", type=int, default=1500, help="pod creates per round and way")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bindings", type=int, default=1000)
    p.add_argument("--connections", type=int, default=100,
                   help="new connections timed for the handshake")
    args = p.parse_args()
    token = StaticToken(TOKEN, "bench-token-user", "bench-token-uid", (GROUP,))
    etcds: list[Etcd] = []
    servers: dict[str, SecureApiServer] = {}
    try:
        for mode in ("AlwaysAllow", "RBAC"):
            e = Etcd().start()
            etcds.append(e)
            s = SecureApiServer(e.url, authorization_mode=mode, tokens=[token])
            servers[mode] = s
            s.start()
            setup(s, args.bindings, mode == "RBAC")
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(run(args, servers))
        result["authorizer_in_process"] = authorizer_micro(args.bindings)
        print(json.dumps(result, indent=2))
    finally:
        for s in servers.values():
            s.stop()
        for e in etcds:
            e.stop()


if __name__ == "__main__":
    main()
