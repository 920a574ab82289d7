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
