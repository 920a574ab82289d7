"""minictl create -f / apply / delete / scale with -R, --dry-run and -o against the real
kubectl on copies of the same objects: same lines, same exit codes, same objects after."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import json_request
from tests.cli.verbs import Pair

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1"}
"""
LIST = """{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l1"}, "data": {"x": "1"}},
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l2"}}]}
"""


@pytest.fixture
def pair(server_url: str, kubectl: Kubectl, api: Api) -> Pair:
    return Pair(server_url, kubectl, api)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "two.yaml").write_text(DEPLOY + "---\n" + CONFIGMAP)
    sub = tmp_path / "dir" / "sub"
    sub.mkdir(parents=True)
    (tmp_path / "dir" / "list.json").write_text(LIST)
    (sub / "cm.yaml").write_text(CONFIGMAP.replace("cfg", "deep"))
    return tmp_path


def exists(p: Pair, path: str) -> tuple[bool, bool]:
    out = []
    for ns in (p.ns_m, p.ns_k):
        code, _ = json_request("GET", p.server + path.format(ns=ns))
        out.append(code == 200)
    return out[0], out[1]


CM = "/api/v1/namespaces/{ns}/configmaps/"
DEP = "/apis/apps/v1/namespaces/{ns}/deployments/"


def test_create_from_files_like_kubectl(pair: Pair, files: Path) -> None:
    two = str(files / "two.yaml")
    for mode in ("client", "server"):
        r = pair.same("create", "-f", two, f"--dry-run={mode}", code=0)
        assert r.out == (f"deployment.apps/web created ({'server ' if mode == 'server' else ''}"
                         f"dry run)\nconfigmap/cfg created ({'server ' if mode == 'server' else ''}"
                         "dry run)\n")
    assert exists(pair, DEP + "web") == (False, False)
    pair.same("create", "-f", two, "--dry-run=client", "-o", "name", code=0)
    assert pair.same("create", "-f", two).out == \
        "deployment.apps/web created\nconfigmap/cfg created\n"
    # again: each one already exists, kubectl reports each and exits 1
    r = pair.same("create", "-f", two, code=1)
    assert "Error from server (AlreadyExists): error when creating" in r.err
    pair.same("create", "-f", str(files / "dir"), code=0)
    assert exists(pair, CM + "deep") == (False, False)
    pair.same("create", "-f", str(files / "dir"), "-R", code=1)  # l1, l2 exist now
    assert exists(pair, CM + "deep") == (True, True)
    pair.same("create", "-f", "-", "-o", "name", input=CONFIGMAP.replace("cfg", "stdin"),
              code=0)
    pair.same("create", "-f", "-", input=CONFIGMAP.replace("cfg", "stdin"), code=1)
    pair.same("create", "-f", str(files / "nope.yaml"), code=1)
    pair.same("create", "-f", two, "--dry-run=bogus", code=1)


def test_create_subcommands_dry_run(pair: Pair) -> None:
    for mode in ("client", "server"):
        pair.same("create", "deployment", "d", "--image=nginx", f"--dry-run={mode}", code=0)
        pair.same("create", "namespace", "dry-ns-m2", f"--dry-run={mode}", "-o", "name",
                  code=0)
    assert exists(pair, DEP + "d") == (False, False)


def test_apply_dry_run_recursive_and_output(pair: Pair, files: Path) -> None:
    two = str(files / "two.yaml")
    for mode in ("client", "server"):
        pair.same("apply", "-f", two, f"--dry-run={mode}", code=0)
    assert exists(pair, DEP + "web") == (False, False)
    pair.same("apply", "-f", two, "--dry-run=client", "-o", "yaml", code=0)
    pair.same("apply", "-f", str(files / "dir"), "-R", "-o", "name", code=0)
    assert exists(pair, CM + "deep") == (True, True)
    assert pair.same("apply", "-f", two).out == \
        "deployment.apps/web created\nconfigmap/cfg created\n"
    pair.same("apply", "-f", two, "--dry-run=server", code=0)
    changed = files / "changed.yaml"
    changed.write_text(CONFIGMAP.replace('"1"', '"2"'))
    for mode in ("client", "server"):
        assert pair.same("apply", "-f", str(changed), f"--dry-run={mode}", code=0).out.startswith(
            "configmap/cfg configured (")
    assert pair.same("apply", "-f", two, "-o", "name").out == "deployment.apps/web\nconfigmap/cfg\n"
    pair.same("apply", "-f", two, "--dry-run=nope", code=1)
    pair.same("apply", code=1)


def test_delete_and_scale_dry_run(pair: Pair, files: Path) -> None:
    two = str(files / "two.yaml")
    pair.same("create", "-f", two, code=0)
    pair.same("create", "-f", str(files / "dir"), "-R", code=0)
    for mode in ("client", "server"):
        assert pair.same("scale", "deploy", "web", "--replicas=3", f"--dry-run={mode}",
                         code=0).out.startswith("deployment.apps/web scaled (")
        pair.same("delete", "-f", two, f"--dry-run={mode}", code=0)
        # a client dry run does not read the object: kubectl says "deleted" all the same
        pair.same("delete", "deploy", "nope", f"--dry-run={mode}",
                  code=0 if mode == "client" else 1)
        pair.same("scale", "deploy", "nope", "--replicas=3", f"--dry-run={mode}", code=1)
    assert exists(pair, DEP + "web") == (True, True)
    for ns in (pair.ns_m, pair.ns_k):
        _, d = json_request("GET", pair.server + DEP.format(ns=ns) + "web")
        assert isinstance(d, dict) and d["spec"]["replicas"] == 1
    for run in (pair.minictl, pair.kubectl_run):
        assert run("delete", "-f", str(files / "dir"), "-R", "--wait=false").code == 0
    assert exists(pair, CM + "deep") == (False, False)
    # and without --dry-run, kubectl's lines
    pair.same("delete", "-f", two, "--wait=false", code=0)
    r = pair.same("delete", "-f", two, code=1)
    assert "error when deleting" in r.err


def test_create_output_and_invalid(pair: Pair, files: Path) -> None:
    cms = files / "cms.yaml"
    cms.write_text(CONFIGMAP + "---\n" + CONFIGMAP.replace("cfg", "cfg2"))
    pair.same("create", "-f", str(cms), "--dry-run=client", "-o", "yaml", code=0)
    pair.same("create", "-f", str(cms), "--dry-run=client", "-o", "json", code=0)
    bad = files / "bad.yaml"
    bad.write_text(DEPLOY.replace("replicas: 1", "replicas: -1") + "---\n" + CONFIGMAP)
    r = pair.same("create", "-f", str(bad), code=1)
    assert r.out == "configmap/cfg created\n"


def test_create_configmap_and_secret_dry_run(pair: Pair) -> None:
    for mode in ("client", "server"):
        pair.same("create", "configmap", "c", "--from-literal=a=1", f"--dry-run={mode}", code=0)
        pair.same("create", "secret", "generic", "s", "--from-literal=a=1",
                  f"--dry-run={mode}", "-o", "name", code=0)
    pair.same("create", "configmap", "c", "--dry-run=bogus", code=1)
    assert exists(pair, CM + "c") == (False, False)


def test_run_dry_run(pair: Pair) -> None:
    for mode in ("client", "server"):
        assert pair.same("run", "p", "--image=nginx", f"--dry-run={mode}", code=0).out == \
            f"pod/p created ({'server ' if mode == 'server' else ''}dry run)\n"
    assert exists(pair, "/api/v1/namespaces/{ns}/pods/p") == (False, False)


def test_apply_over_created_object_warns(pair: Pair, files: Path) -> None:
    f = files / "cm.yaml"
    f.write_text(CONFIGMAP)
    pair.same("create", "-f", str(f), code=0)
    f.write_text(CONFIGMAP.replace('"1"', '"2"'))
    m = pair.minictl("apply", "-f", str(f))
    k = pair.kubectl_run("apply", "-f", str(f))
    assert (m.code, m.out) == (k.code, k.out) == (0, "configmap/cfg configured\n")
    assert m.err.replace("minictl", "kubectl") == k.err
    assert pair.same("apply", "-f", str(f)).out == "configmap/cfg unchanged\n"
