"""minictl over TLS against an API server that wants credentials (testing.secure): a
kubeconfig with embedded certificates, kubectl's --certificate-authority/--client-certificate/
--client-key, --token and --insecure-skip-tls-verify flags; a server it cannot verify, or no
credentials, is one line on stderr and exit 1, as kubectl answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing import kubectl as kubectl_cli
from testing.secure import SecureApiServer
from testing.support import ROOT

AUTHORIZATION_MODE = "AlwaysAllow"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No kubeconfig of the machine's and no server from the environment."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MINIK8S_")}
    return {**e, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none"),
            "MINIK8S_CONFIG": str(tmp_path / "none")}


def minictl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                       timeout=60, cwd=ROOT, env=env)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def names(out: str) -> set[str]:
    return {ln.split()[0] for ln in out.splitlines() if ln.strip()}


def test_kubeconfig_with_client_certificate(secure_apiserver: SecureApiServer,
                                            env: dict[str, str]) -> None:
    s = secure_apiserver
    p = minictl(env, "get", "namespaces", "--no-headers", "--kubeconfig",
                str(s.admin.kubeconfig))
    assert p.returncode == 0, p.stderr
    assert {"default", "kube-system"} <= names(p.stdout)
    if kubectl_cli.installed():
        kubectl = s.kubectl(s.admin)("get", "namespaces", "--no-headers")
        assert names(kubectl.stdout) == names(p.stdout)


def test_kubectls_tls_flags(secure_apiserver: SecureApiServer, env: dict[str, str]) -> None:
    s = secure_apiserver
    assert s.admin.cert is not None and s.admin.key is not None
    certs = minictl(env, "get", "ns", "default", "--no-headers", "--server", s.url,
                    "--certificate-authority", str(s.ca_file),
                    "--client-certificate", str(s.admin.cert), "--client-key", str(s.admin.key))
    assert certs.returncode == 0 and certs.stdout.startswith("default "), certs.stderr
    token = minictl(env, "get", "ns", "default", "--no-headers", "--server", s.url,
                    "--certificate-authority", str(s.ca_file), "--token", s.admin_token.token)
    assert token.returncode == 0 and token.stdout.startswith("default "), token.stderr
    insecure = minictl(env, "get", "ns", "default", "--no-headers", "--server", s.url,
                       "--insecure-skip-tls-verify", "--token", s.admin_token.token)
    assert insecure.returncode == 0 and insecure.stdout.startswith("default "), insecure.stderr


def test_untrusted_server_and_no_credentials_fail_in_one_line(
        secure_apiserver: SecureApiServer, env: dict[str, str]) -> None:
    s = secure_apiserver
    untrusted = minictl(env, "get", "ns", "--server", s.url, "--token", s.admin_token.token)
    assert untrusted.returncode == 1
    assert len(untrusted.stderr.strip().splitlines()) == 1, untrusted.stderr
    assert "certificate verify failed" in untrusted.stderr.lower(), untrusted.stderr
    anonymous = minictl(env, "get", "ns", "--server", s.url,
                        "--certificate-authority", str(s.ca_file))
    assert anonymous.returncode == 1
    assert len(anonymous.stderr.strip().splitlines()) == 1, anonymous.stderr
    assert "Unauthorized" in anonymous.stderr, anonymous.stderr
    both = minictl(env, "get", "ns", "--server", s.url, "--insecure-skip-tls-verify",
                   "--certificate-authority", str(s.ca_file))
    assert both.returncode == 1 and both.stderr.strip() == (
        "error: specifying a root certificates file with the insecure flag is not allowed")
