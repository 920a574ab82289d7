"""Joining a node with a bootstrap token (kubeadm's TLS bootstrap), end to end on a secure API
server (Node,RBAC, anonymous cluster-info), a real controller-manager (csrapproving,
csrsigning, bootstrapsigner; certificates of 12 s so that rotation happens here) and kubelets
on the fake runtime: ``minictl token create`` then ``minictl join`` makes a node that shows
Ready with its approved CSR and renews its certificate without a restart; a wrong or expired
token is refused (401) and leaves no Node and no CSR; a denied CSR leaves the kubelet waiting
and saying so; a CA pin that does not match makes join refuse.

"Across machines": the API server serves HTTPS only on the host end of a veth pair
(198.18.<n>.1/30, the benchmarking range, routed nowhere), and the joining node runs in a
network namespace of its own holding the other end: it reaches the control plane only
through that address, and registers that address as its InternalIP."""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from api import bootstraptoken as bt
from cli.main import cli
from pki.csr import ca_cert_hash, lifetime
from testing.secure import SecureApiServer
from testing.support import Process, on_own_etcd, unique, wait_for
from tests.controllers.helpers import start_controller_manager

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SIGNING_DURATION = "12s"


@dataclass(frozen=True)
class Netns:
    name: str
    host_ip: str
    ns_ip: str

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def netns() -> Iterator[Netns | None]:
    """A network namespace joined to the host by a veth pair in 198.18.<n>.0/30 (no other
    route in it); None where namespaces cannot be made (not root, no ip)."""
    n = os.getpid() % 250
    ns = Netns(f"mk8s-join-{os.getpid()}", f"198.18.{n}.1", f"198.18.{n}.2")
    host_if, ns_if = f"mkjh{os.getpid() % 100000}", f"mkjn{os.getpid() % 100000}"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        yield None
        return
    try:
        _ip("netns", "add", ns.name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns.name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", ns_if)
        _ip("-n", ns.name, "link", "set", ns_if, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError):
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        yield None
        return
    try:
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)


@pytest.fixture(scope="module")
def server(netns: Netns | None) -> Iterator[SecureApiServer]:
    bind = netns.host_ip if netns is not None else "127.0.0.1"
    with on_own_etcd(lambda url: SecureApiServer(url, authorization_mode="Node,RBAC",
                                                 anonymous_auth=True,
                                                 bind_address=bind)) as s:
        yield s


@pytest.fixture(scope="module")
def root(server: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.insecure_url, timeout=15) as c:
        yield c


@pytest.fixture(scope="module")
def manager(server: SecureApiServer) -> Iterator[Process]:
    cm = start_controller_manager(
        server.insecure_url, "--controllers=csrapproving,csrsigning,bootstrapsigner",
        f"--cluster-signing-cert-file={server.ca_file}",
        f"--cluster-signing-key-file={server.dir / 'ca.key'}",
        f"--cluster-signing-duration={SIGNING_DURATION}")
    yield cm
    cm.stop()


def minictl(server: SecureApiServer, *args: str, check: bool = True) -> Result:
    """minictl in-process (CliRunner) with the admin kubeconfig."""
    r = CliRunner().invoke(cli, ["--kubeconfig", str(server.admin.kubeconfig), *args],
                           env={"HOME": str(server.dir)}, catch_exceptions=False)
    if check:
        assert r.exit_code == 0, r.output
    return r


def new_token(server: SecureApiServer, root: httpx.Client, *extra: str) -> str:
    token = minictl(server, "token", "create", *extra).stdout.strip()
    assert bt.TOKEN_RE.match(token), token
    tid = token.split(".")[0]
    wait_for(lambda: bt.JWS_PREFIX + tid in (root.get(
        "/api/v1/namespaces/kube-public/configmaps/cluster-info").json().get("data") or {}),
        timeout=15, message="cluster-info signed for the token")
    return token


def join(server: SecureApiServer, token: str, node: str, d: Path,
         netns: Netns | None = None) -> Process:
    argv = [sys.executable, "-m", "cli", "join", "--server", server.url, "--token", token,
            "--discovery-token-ca-cert-hash", ca_cert_hash(server.ca.cert_pem),
            "--node-name", node, "--dir", str(d),
            "--", "--runtime", "fake", "--no-http", "--heartbeat-seconds", "2"]
    return Process(f"join-{node}", netns.argv(*argv) if netns else argv).start()


def node_ready(root: httpx.Client, name: str) -> bool:
    r = root.get(f"/api/v1/nodes/{name}")
    if r.status_code != 200:
        return False
    conds = (r.json().get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def csrs_of(root: httpx.Client, user: str) -> list[dict[str, Any]]:
    return [c for c in root.get(CSRS).json()["items"] if c["spec"].get("username") == user]


def test_join_across_namespaces_ready_then_rotates(
        server: SecureApiServer, root: httpx.Client, manager: Process, tmp_path: Path,
        netns: Netns | None) -> None:
    token = new_token(server, root, "--ttl", "10m", "--description", "test join")
    listed = minictl(server, "token", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["TOKEN", "TTL", "EXPIRES", "USAGES"]
    row = next(r for r in listed if r.startswith(token))
    assert "authentication,signing" in row and "test join" in row and bt.DEFAULT_GROUP in row
    node = unique("joined")
    if netns is not None:
        # inside, the control plane is not on loopback: only the veth address leads to it
        port = server.url.rsplit(":", 1)[1]
        probe = subprocess.run(netns.argv("bash", "-c", f"echo > /dev/tcp/127.0.0.1/{port}"),
                               capture_output=True, timeout=10, check=False)
        assert probe.returncode != 0
    proc = join(server, token, node, tmp_path, netns)
    try:
        wait_for(lambda: node_ready(root, node) or not proc.alive(), timeout=30,
                 message="joined node Ready")
        assert proc.alive(), proc.log_tail()
        if netns is not None:
            addrs = root.get(f"/api/v1/nodes/{node}").json()["status"]["addresses"]
            assert {"type": "InternalIP", "address": netns.ns_ip} in addrs
        boot_user = "system:bootstrap:" + token.split(".")[0]
        (first,) = csrs_of(root, boot_user)
        cond = first["status"]["conditions"][0]
        assert (cond["type"], cond["reason"]) == ("Approved", "AutoApproved")
        assert first["status"]["certificate"]
        out = server.kubectl(server.admin)("get", "csr", first["metadata"]["name"]).stdout
        assert out.splitlines()[1].split()[-3:] == [boot_user, "<none>", "Approved,Issued"]
        pem = tmp_path / "pki" / "kubelet-client-current.pem"
        first_cert = pem.read_bytes()
        _, first_expiry = lifetime(first_cert)
        assert (tmp_path / "kubelet.conf").exists()
        # rotation: the node asks for its own renewal (selfnodeclient) before expiry
        renewed = wait_for(lambda: [c for c in csrs_of(root, f"system:node:{node}")
                                    if c["status"].get("certificate")], timeout=25,
                           message="renewed certificate")
        assert renewed[0]["status"]["conditions"][0]["message"].startswith(
            "Auto approving self kubelet client certificate")
        wait_for(lambda: pem.read_bytes() != first_cert, timeout=10, message="new pem")
        assert datetime.datetime.now(datetime.UTC) < first_expiry
        pid = proc.proc.pid if proc.proc else 0
        # past the first certificate's expiry, the same process still heartbeats
        wait_for(lambda: datetime.datetime.now(datetime.UTC) > first_expiry, timeout=20)
        lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
        renew0 = root.get(lease).json()["spec"]["renewTime"]
        wait_for(lambda: root.get(lease).json()["spec"]["renewTime"] != renew0, timeout=10,
                 message="lease renewed after the first certificate expired")
        assert proc.alive() and proc.proc is not None and proc.proc.pid == pid
        assert node_ready(root, node)
        assert "rotated the client certificate" in proc.log_path.read_text()
    finally:
        proc.stop()


def _token_secret(root: httpx.Client, expiration: str | None) -> str:
    token = bt.generate()
    tid, sec = token.split(".")
    data = {bt.TOKEN_ID: tid, bt.TOKEN_SECRET: sec, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true", bt.EXTRA_GROUPS: bt.DEFAULT_GROUP}
    if expiration:
        data[bt.EXPIRATION] = expiration
    r = root.post("/api/v1/namespaces/kube-system/secrets", json={
        "metadata": {"name": bt.SECRET_PREFIX + tid}, "type": bt.SECRET_TYPE,
        "stringData": data})
    assert r.status_code == 201, r.text
    return token


def _kubelet(server: SecureApiServer, token: str, node: str, d: Path) -> Process:
    import json

    from cli.bootstrap_cmds import bootstrap_kubeconfig

    boot = d / "bootstrap.conf"
    boot.write_text(json.dumps(bootstrap_kubeconfig(server.url, server.ca.cert_pem, token)))
    return Process(f"kubelet-{node}", [
        sys.executable, "-m", "kubelet", "--node-name", node, "--runtime", "fake", "--no-http",
        "--bootstrap-kubeconfig", str(boot), "--kubeconfig", str(d / "kubelet.conf"),
        "--cert-dir", str(d / "pki"), "--root-dir", str(d)]).start()


def test_wrong_or_expired_token_refused(server: SecureApiServer, root: httpx.Client,
                                        manager: Process, tmp_path: Path) -> None:
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
    expired = _token_secret(root, past)
    good = _token_secret(root, None)
    wrong = good.split(".")[0] + "." + "x" * 16
    runs = []
    for i, token in enumerate((wrong, expired)):
        with server.client(server.token_user(token, f"bad{i}")) as c:
            r = c.get("/api/v1/namespaces/default/pods")
            assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
        node = unique(f"refused{i}")
        d = tmp_path / node
        d.mkdir()
        runs.append((token, node, d, _kubelet(server, token, node, d)))
    try:
        for token, node, d, k in runs:
            wait_for(lambda k=k: not k.alive(), timeout=30,  # type: ignore[misc]
                     message="kubelet gives up")
            assert k.proc is not None and k.proc.returncode != 0
            assert "bootstrap credentials were refused" in k.log_tail()
            assert root.get(f"/api/v1/nodes/{node}").status_code == 404
            assert not csrs_of(root, "system:bootstrap:" + token.split(".")[0])
            assert not (d / "kubelet.conf").exists()
    finally:
        for *_, k in runs:
            k.stop()
    # join itself refuses the expired token: the bootstrap signer does not sign for it
    p = minictl(server, "join", "--server", server.url, "--token", expired,
                "--discovery-token-ca-cert-hash", ca_cert_hash(server.ca.cert_pem),
                "--node-name", "never", "--dir", str(tmp_path / "never"), "--print-only",
                check=False)
    assert p.exit_code == 1 and "no JWS signed token" in p.stderr


def test_denied_csr_leaves_kubelet_waiting(server: SecureApiServer, root: httpx.Client,
                                           manager: Process, tmp_path: Path) -> None:
    # a token group that may create CSRs but is not auto-approved
    group = "system:bootstrappers:manual"
    root.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json={
        "metadata": {"name": unique("manual")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:node-bootstrapper"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                      "name": group}]})
    token = new_token(server, root, "--groups", group)
    node = unique("denied")
    k = _kubelet(server, token, node, tmp_path)
    user = "system:bootstrap:" + token.split(".")[0]
    try:
        (csr,) = wait_for(lambda: csrs_of(root, user), timeout=20, message="CSR created")
        name = csr["metadata"]["name"]
        assert csr["status"] == {}
        out = minictl(server, "certificate", "deny", name).stdout.strip()
        assert out == f"certificatesigningrequest.certificates.k8s.io/{name} denied"
        wait_for(lambda: f"certificatesigningrequest {name} is denied" in k.log_tail(),
                 timeout=15, message="the kubelet says it was denied")
        assert "keeps waiting" in k.log_tail()
        assert k.alive()
        assert root.get(f"/api/v1/nodes/{node}").status_code == 404
        row = minictl(server, "get", "csr", name).stdout.splitlines()[1].split()
        assert row[-1] == "Denied"
    finally:
        k.stop()


def test_ca_hash_mismatch_refused(server: SecureApiServer, root: httpx.Client,
                                  manager: Process, tmp_path: Path) -> None:
    token = new_token(server, root)
    import pki

    other = ca_cert_hash(pki.new_ca().cert_pem)
    p = minictl(server, "join", "--server", server.url, "--token", token,
                "--discovery-token-ca-cert-hash", other, "--node-name", "x",
                "--dir", str(tmp_path), "--print-only", check=False)
    assert p.exit_code == 1
    assert p.stderr.strip() == (
        "error: cluster CA found in cluster-info ConfigMap is invalid: none of the public "
        f'keys "{ca_cert_hash(server.ca.cert_pem)}" are pinned')
    assert not (tmp_path / "bootstrap-kubelet.conf").exists()
    # a forged secret: the JWS does not verify
    tid = token.split(".")[0]
    p = minictl(server, "join", "--server", server.url, "--token", tid + "." + "0" * 16,
                "--discovery-token-ca-cert-hash", ca_cert_hash(server.ca.cert_pem),
                "--dir", str(tmp_path), "--print-only", check=False)
    assert p.exit_code == 1 and "failed to verify JWS signature" in p.stderr
    # the right pin: the files and the kubelet command
    p = minictl(server, "join", "--server", server.url, "--token", token,
                "--discovery-token-ca-cert-hash", ca_cert_hash(server.ca.cert_pem),
                "--node-name", "x", "--dir", str(tmp_path), "--print-only")
    assert "--bootstrap-kubeconfig" in p.stdout
    conf = (tmp_path / "bootstrap-kubelet.conf").read_text()
    assert token in conf and base64.b64encode(server.ca.cert_pem).decode() in conf


def test_serving_certificate_by_csr(server: SecureApiServer, root: httpx.Client,
                                    manager: Process, tmp_path: Path) -> None:
    """--rotate-server-certificates: the kubelet API has no certificate until its
    kubernetes.io/kubelet-serving CSR (never auto-approved) is approved; then it serves HTTPS
    with the issued one (its node name and address as SANs)."""
    import ssl

    from testing.support import free_port

    node = unique("serving")
    creds = server.user(f"system:node:{node}", groups=["system:nodes"])
    port = free_port()
    k = Process(f"kubelet-{node}", [
        sys.executable, "-m", "kubelet", "--node-name", node, "--runtime", "fake",
        "--kubeconfig", str(creds.kubeconfig), "--root-dir", str(tmp_path),
        "--cert-dir", str(tmp_path / "pki"), "--port", str(port), "--address", "127.0.0.1",
        "--node-ip", "127.0.0.1", "--healthz-port", "0", "--client-ca-file",
        str(server.ca_file), "--rotate-server-certificates"]).start()
    ctx = ssl.create_default_context(cafile=str(server.ca_file))

    def healthz() -> int | None:
        try:
            with httpx.Client(verify=ctx, timeout=5) as c:
                return c.get(f"https://127.0.0.1:{port}/healthz").status_code
        except httpx.HTTPError:
            return None

    try:
        user = f"system:node:{node}"
        (csr,) = wait_for(lambda: [c for c in csrs_of(root, user) if c["spec"]["signerName"]
                                   == "kubernetes.io/kubelet-serving"], timeout=30,
                          message="serving CSR")
        assert csr["status"] == {} and healthz() is None  # no certificate yet
        minictl(server, "certificate", "approve", csr["metadata"]["name"])
        assert wait_for(healthz, timeout=20, message="kubelet HTTPS") == 200
        assert (tmp_path / "pki" / "kubelet-server-current.pem").exists()
    finally:
        k.stop()


def test_token_commands(server: SecureApiServer, root: httpx.Client) -> None:
    """minictl token create|list|delete: kubeadm's Secret, its errors as one line."""
    token = "abcdef.0123456789abcdef"
    out = minictl(server, "token", "create", token, "--ttl", "0", "--usages", "authentication",
                  "--print-join-command").stdout.strip()
    assert out == (f"minictl join --server {server.url} --token {token} "
                   f"--discovery-token-ca-cert-hash {ca_cert_hash(server.ca.cert_pem)}")
    sec = root.get("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef").json()
    assert sec["type"] == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}
    assert data == {"token-id": "abcdef", "token-secret": "0123456789abcdef",
                    "usage-bootstrap-authentication": "true",
                    "auth-extra-groups": bt.DEFAULT_GROUP}
    row = next(r for r in minictl(server, "token", "list").stdout.splitlines()
               if r.startswith(token))
    assert row.split()[1:4] == ["<forever>", "<never>", "authentication"]
    for args, msg in (
            (("create", "nope"), 'the bootstrap token "nope" was not of the form'),
            (("create", token), 'a token with id "abcdef" already exists'),
            (("create", "--usages", "signing,nope"), 'invalid bootstrap token usage string '
                                                     '"nope"'),
            (("create", "--groups", "admins"), 'bootstrap group "admins" is invalid'),
            (("delete", "zzzzzz"), 'bootstrap token "zzzzzz" not found'),
            (("delete", "x"), "given token didn't match pattern")):
        r = minictl(server, "token", *args, check=False)
        assert r.exit_code == 1 and r.stdout == ""
        assert r.stderr.startswith("error: " + msg) and len(r.stderr.splitlines()) == 1, \
            r.stderr
    assert minictl(server, "token", "delete", token).stdout == \
        'bootstrap token "abcdef" deleted\n'
    assert root.get("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef"
                    ).status_code == 404
