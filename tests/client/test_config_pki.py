"""``python -m pki init``: kubeadm's layout, the identities in each kubeconfig as the API
server's x509 authenticator reads them (CN user, O groups), the API server's SANs, and a
second run that keeps everything (idempotent) but follows a changed server URL."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pki
from client.config import kubeconfig_config, resolve_cli
from testing.support import ROOT


def _init(d: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pki", "init", "--dir", str(d),
                           "--nodes", "node-1,node-2", *extra],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)


def _who(cfg_path: Path) -> tuple[str, tuple[str, ...]]:
    cfg = kubeconfig_config(cfg_path)
    assert cfg.cert_data is not None
    return pki.subject(x509.load_pem_x509_certificate(cfg.cert_data).public_bytes(
        serialization.Encoding.DER))


def test_init_writes_kubeadms_layout(tmp_path: Path) -> None:
    d = tmp_path / "k"
    out = _init(d, "--apiserver-san", "203.0.113.9,api.example").stdout
    assert "generated ca certificate authority" in out
    for name in ("ca", "apiserver", "apiserver-kubelet-client", "node-1", "node-2"):
        assert (d / "pki" / f"{name}.crt").exists()
        assert stat.S_IMODE((d / "pki" / f"{name}.key").stat().st_mode) == 0o600
    assert (d / "pki" / "sa.key").exists() and (d / "pki" / "sa.pub").exists()
    assert _who(d / "admin.conf") == ("kubernetes-admin", ("system:masters",))
    assert _who(d / "scheduler.conf") == ("system:kube-scheduler", ())
    assert _who(d / "controller-manager.conf") == ("system:kube-controller-manager", ())
    assert _who(d / "proxy.conf") == ("system:kube-proxy", ())
    assert _who(d / "kubelet-node-2.conf") == ("system:node:node-2", ("system:nodes",))
    admin = kubeconfig_config(d / "admin.conf")
    assert admin.server == "https://apiserver:6443" and admin.ca_data == \
        (d / "pki" / "ca.crt").read_bytes()
    token, user, uid, groups = (d / "pki" / "tokens.csv").read_text().strip().split(",", 3)
    assert admin.token == token and (user, uid, groups) == (
        "kubernetes-admin", "kubernetes-admin", '"system:masters"')
    api = x509.load_pem_x509_certificate((d / "pki" / "apiserver.crt").read_bytes())
    san = api.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) >= {
        "localhost", "apiserver", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local", "api.example"}
    assert set(san.get_values_for_type(x509.IPAddress)) >= {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "10.96.0.1", "203.0.113.9")}
    kubelet = x509.load_pem_x509_certificate((d / "pki" / "node-1.crt").read_bytes())
    assert kubelet.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["node-1"]


def test_init_is_idempotent_and_follows_the_server(tmp_path: Path) -> None:
    d = tmp_path / "k"
    _init(d)
    files = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    out = _init(d).stdout
    assert "generated" not in out and "wrote" not in out
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == files
    out = _init(d, "--admin-server", "https://127.0.0.1:7443").stdout
    assert "wrote kubeconfig admin.conf" in out and "generated ca" not in out
    assert kubeconfig_config(d / "admin.conf").server == "https://127.0.0.1:7443"
    assert (d / "pki" / "ca.crt").read_bytes() == files[d / "pki" / "ca.crt"]
    assert (d / "scheduler.conf").read_bytes() == files[d / "scheduler.conf"]


def test_share_gives_each_component_only_its_files(tmp_path: Path) -> None:
    d, out = tmp_path / "k", tmp_path / "out"
    _init(d, "--share", str(out))
    got = {c.name: sorted(str(p.relative_to(c)) for p in c.rglob("*") if p.is_file())
           for c in out.iterdir()}
    assert got == {
        "scheduler": ["scheduler.conf"], "proxy": ["proxy.conf"], "dashboard": ["pki/ca.crt"],
        "controller-manager": ["controller-manager.conf", "pki/ca.crt", "pki/sa.key"],
        "node-1": ["kubelet-node-1.conf", "pki/ca.crt", "pki/node-1.crt", "pki/node-1.key"],
        "node-2": ["kubelet-node-2.conf", "pki/ca.crt", "pki/node-2.crt", "pki/node-2.key"]}
    assert (out / "node-1" / "pki" / "node-1.key").read_bytes() == \
        (d / "pki" / "node-1.key").read_bytes()
    assert stat.S_IMODE((out / "controller-manager" / "pki" / "sa.key").stat().st_mode) == 0o600
    assert _who(out / "node-2" / "kubelet-node-2.conf") == ("system:node:node-2",
                                                           ("system:nodes",))
    # a second run changes nothing
    assert "shared" not in _init(d, "--share", str(out)).stdout


def test_merge_kubeconfig_as_kind_does(tmp_path: Path) -> None:
    """The admin kubeconfig merged into a user's kubeconfig as context ``minik8s``, made
    current; the user's other entries kept; minictl's resolution then uses its TLS fields."""
    d = tmp_path / "k"
    _init(d, "--admin-server", "https://127.0.0.1:6443")
    home = tmp_path / "home" / ".kube" / "config"
    home.parent.mkdir(parents=True)
    home.write_text(yaml.safe_dump(pki.kubeconfig("https://other:6443", b"x", "me",
                                                  token="mine", cluster="other")))
    for _ in range(2):  # twice: the second run replaces, never duplicates
        subprocess.run([sys.executable, "-m", "pki", "merge-kubeconfig", str(d / "admin.conf"),
                        "--into", str(home), "--into", str(tmp_path / "admin.conf"), "-q"],
                       check=True, timeout=60, cwd=ROOT)
    data = yaml.safe_load(home.read_text())
    assert data["current-context"] == "minik8s"
    assert sorted(c["name"] for c in data["contexts"]) == ["me@other", "minik8s"]
    assert sorted(c["name"] for c in data["clusters"]) == ["minik8s", "other"]
    assert sorted(u["name"] for u in data["users"]) == ["me", "minik8s"]
    cli = resolve_cli(None, str(home))
    assert cli.context == "minik8s" and cli.server == "https://127.0.0.1:6443"
    assert cli.client is not None and cli.client.cert_data and cli.client.ca_data
    assert cli.client.ssl_context() is not None
    only = yaml.safe_load((tmp_path / "admin.conf").read_text())
    assert [c["name"] for c in only["contexts"]] == ["minik8s"]
