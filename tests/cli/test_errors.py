"""Every way minictl can fail: one line in kubectl's words, exit code 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import cli
from testing.support import ROOT, free_port
from tests.cli.helpers import fails, mctl, ok


def test_not_found_is_kubectls_line(server_url: str, ns: str) -> None:
    err = fails(server_url, "-n", ns, "get", "deployment", "x")
    assert err == 'Error from server (NotFound): deployments.apps "x" not found'
    assert fails(server_url, "-n", ns, "get", "pod/nope") == \
        'Error from server (NotFound): pods "nope" not found'
    assert fails(server_url, "-n", ns, "describe", "deploy", "x") == \
        'Error from server (NotFound): deployments.apps "x" not found'
    assert fails(server_url, "-n", ns, "delete", "deploy", "x") == \
        'Error from server (NotFound): deployments.apps "x" not found'
    assert fails(server_url, "-n", ns, "scale", "deploy", "x", "--replicas=2") == \
        'Error from server (NotFound): deployments.apps "x" not found'
    assert "not found" in fails(server_url, "-n", ns, "logs", "nope")
    assert "not found" in fails(server_url, "-n", ns, "trace", "deployment/nope")
    assert "not found" in fails(server_url, "-n", ns, "rollout", "status", "deploy/nope")


def test_already_exists(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "dup")
    assert fails(server_url, "-n", ns, "create", "deployment", "dup") == \
        'Error from server (AlreadyExists): deployments.apps "dup" already exists'


def test_invalid_object_from_server(server_url: str, ns: str) -> None:
    err = fails(server_url, "-n", ns, "run", "Bad_Name", "--image", "nginx")
    assert "\n" not in err and "Bad_Name" in err and "invalid" in err.lower()
    err = fails(server_url, "-n", "no-such-ns-here", "create", "deployment", "x")
    assert err.startswith("Error from server (NotFound): namespaces") or "not found" in err


def test_connection_refused(ns: str) -> None:
    port = free_port()
    err = fails(f"http://127.0.0.1:{port}", "get", "pods")
    assert err == (f"The connection to the server 127.0.0.1:{port} was refused - did you "
                   "specify the right host or port?")


def test_unresolvable_host() -> None:
    err = fails("http://no-such-host.invalid:8080", "get", "pods")
    assert err.startswith("Unable to connect to the server:"), err


def test_usage_errors(server_url: str) -> None:
    err = fails(server_url, "get", "pods", "--bogus")
    assert err.splitlines() == ["error: No such option '--bogus'.",
                                "See 'minictl get --help' for usage."]
    assert fails(server_url, "get", "foo") == \
        'error: the server doesn\'t have a resource type "foo"'
    assert fails(server_url, "get").startswith("error: you must specify the type of resource")
    assert fails(server_url, "get", "pods", "-o", "xml").startswith(
        'error: unable to match a printer suitable for the output format "xml"')
    assert fails(server_url, "frobnicate").startswith("error: No such command")
    assert fails(server_url, "scale", "deploy", "x", "--replicas", "many").startswith("error:")
    assert fails(server_url, "scale", "deploy", "x").startswith("error: Missing option")
    assert fails(server_url, "delete").startswith("error: You must provide one or more")
    assert fails(server_url, "delete", "pods").startswith("error: resource(s) were provided")
    assert fails(server_url, "delete", "deploy", "x", "--cascade=sideways").startswith(
        'error: invalid cascade value (sideways)')
    assert fails(server_url, "get", "pods", "-w", "--request-timeout=soon").startswith(
        'error: invalid duration "soon"')
    assert fails(server_url, "get", "pods,deploy", "-w").startswith(
        "error: watch is only supported on individual resources")
    assert fails(server_url, "scale", "pod/x", "--replicas=1").startswith(
        "error: cannot scale pods")
    assert fails(server_url, "get", "deploy/").startswith("error: arguments in resource/name")
    assert fails(server_url, "create", "deployment", "x", "--replicas=-1") == \
        "error: --replicas must be >= 0, got -1"


def test_help_everywhere() -> None:
    runner = CliRunner()
    paths = [[], ["get"], ["describe"], ["create"], ["create", "deployment"],
             ["create", "namespace"], ["run"], ["delete"], ["apply"], ["scale"], ["set"],
             ["set", "image"], ["rollout"], ["rollout", "status"], ["rollout", "history"],
             ["rollout", "undo"], ["rollout", "restart"], ["rollout", "pause"],
             ["rollout", "resume"], ["logs"], ["trace"], ["cluster-info"], ["version"]]
    for p in paths:
        r = runner.invoke(cli, [*p, "--help"])
        assert r.exit_code == 0, (p, r.output)
        assert r.output.startswith("Usage: minictl"), (p, r.output)
        if p:
            assert "-n, --namespace" in r.output or p in (["create"], ["set"], ["rollout"]), p


def test_broken_config_file_is_not_a_traceback(tmp_path: pytest.TempPathFactory) -> None:
    cfg = tmp_path / "config"  # type: ignore[operator]
    cfg.write_text("server: [unclosed\n")
    port = free_port()
    r = mctl(f"http://127.0.0.1:{port}", "get", "pods", env={"MINIK8S_CONFIG": str(cfg)})
    assert r.exit_code == 1 and "refused" in r.stderr


def test_server_from_environment_and_config(server_url: str, tmp_path: pytest.TempPathFactory,
                                            ns: str) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["-n", ns, "get", "pods"], env={"MINIK8S_SERVER": server_url,
                                                          "MINIK8S_CONFIG": "/nonexistent"})
    assert r.exit_code == 0 and "No resources found" in r.stderr, r.output
    cfg = tmp_path / "config"  # type: ignore[operator]
    cfg.write_text(f"server: {server_url}\n")
    r = runner.invoke(cli, ["get", "ns", ns, "-o", "name"],
                      env={"MINIK8S_SERVER": None, "MINIK8S_CONFIG": str(cfg)})
    assert r.exit_code == 0 and r.stdout.strip() == f"namespace/{ns}", r.output


def test_real_process_one_line_and_exit_code() -> None:
    """The console entry point, as a user runs it: stderr is one line, exit status 1."""
    port = free_port()
    p = subprocess.run([sys.executable, "-m", "cli", "--server", f"http://127.0.0.1:{port}",
                        "get", "deployment", "x"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"The connection to the server 127.0.0.1:{port} was refused - did you specify the "
        "right host or port?"]
