"""minictl debug refuses what kubectl debug refuses, with kubectl's words (each case run
by both against the shared API server); the profiles' changes as kubectl's profiles.go
makes them. The sessions themselves (attach, --target, --copy-to, node) run on Docker in
tests/kubelet/test_debug_docker.py."""

from __future__ import annotations

from typing import Any

import pytest

from cli.debug_cmd import apply_profile
from testing.kubectl import Kubectl
from tests.cli.helpers import mctl, post

REFUSED = [
    (),
    ("p", "--image=minik8s/busybox", "-t"),
    ("p", "--image=BAD IMAGE"),
    ("--image=minik8s/busybox",),
    ("p", "--image=minik8s/busybox", "--replace"),
    ("p", "--image=minik8s/busybox", "--same-node"),
    ("p", "--image=minik8s/busybox", "--set-image=a=b"),
    ("p", "--copy-to=x"),
    ("p", "--copy-to=x", "--", "sh"),
    ("p", "--copy-to=x", "--image=minik8s/busybox", "--target=a"),
    ("p", "--copy-to=x", "--set-image=a=BAD:IMAGE:x"),
    ("p", "--image=minik8s/busybox", "--image-pull-policy=Sometimes"),
    ("p", "--image=minik8s/busybox", "--profile=nope"),
    ("p", "--attach"),
    ("nope", "--image=minik8s/busybox"),
    ("node/nope", "--image=minik8s/busybox"),
    ("configmap/nope", "--image=minik8s/busybox"),
]


@pytest.mark.parametrize("args", REFUSED, ids=[" ".join(a) or "none" for a in REFUSED])
def test_refused_as_kubectl(server_url: str, kubectl: Kubectl, ns: str,
                            args: tuple[str, ...]) -> None:
    want = kubectl("debug", "-n", ns, *args, check=False)
    got = mctl(server_url, "debug", "-n", ns, *args)
    assert want.returncode == 1 and got.exit_code == 1, (want, got.output)
    assert got.stderr.strip() == want.stderr.strip()
    assert got.stdout == want.stdout


def test_unsupported_kind(server_url: str, kubectl: Kubectl, ns: str) -> None:
    post(server_url, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cm"}})
    want = kubectl("debug", "-n", ns, "configmap/cm", "--image=minik8s/busybox", check=False)
    got = mctl(server_url, "debug", "-n", ns, "configmap/cm", "--image=minik8s/busybox")
    assert got.stderr.strip() == want.stderr.strip() == \
        'error: "/v1, Kind=ConfigMap" not supported by debug'


def _pod() -> dict[str, Any]:
    return {"metadata": {"name": "p", "labels": {"a": "b"}, "annotations": {"c": "d"}},
            "spec": {"initContainers": [{"name": "init", "image": "i"}],
                     "containers": [{"name": "app", "image": "a",
                                     "livenessProbe": {"exec": {"command": ["true"]}}},
                                    {"name": "dbg", "image": "busybox",
                                     "securityContext": {"runAsUser": 1000}}]}}


KEEP = {"labels": False, "annotations": False, "liveness": False, "readiness": False,
        "startup": False, "init_containers": True}


def test_profiles() -> None:
    node = _pod()
    apply_profile("general", "node", node, "dbg", KEEP)
    spec = node["spec"]
    assert (spec["hostNetwork"], spec["hostPID"], spec["hostIPC"]) == (True, True, True)
    assert spec["volumes"] == [{"name": "host-root", "hostPath": {"path": "/"}}]
    dbg = spec["containers"][1]
    assert dbg["volumeMounts"] == [{"mountPath": "/host", "name": "host-root"}]
    assert "securityContext" not in dbg

    cp = _pod()
    apply_profile("general", "copy", cp, "dbg", KEEP)
    assert "labels" not in cp["metadata"] and "annotations" not in cp["metadata"]
    assert "livenessProbe" not in cp["spec"]["containers"][0]
    assert cp["spec"]["initContainers"] and cp["spec"]["shareProcessNamespace"] is True
    assert cp["spec"]["containers"][1]["securityContext"] == {
        "runAsUser": 1000, "capabilities": {"add": ["SYS_PTRACE"]}}

    r = _pod()
    apply_profile("restricted", "ephemeral", r, "dbg", KEEP)
    assert r["spec"]["containers"][1]["securityContext"] == {
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
        "allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"}}

    s = _pod()
    apply_profile("sysadmin", "node", s, "dbg", KEEP)
    assert s["spec"]["containers"][1]["securityContext"]["privileged"] is True
    assert s["spec"]["hostPID"] is True and s["spec"]["volumes"][0]["hostPath"] == {"path": "/"}

    n = _pod()
    apply_profile("netadmin", "ephemeral", n, "dbg", KEEP)
    assert n["spec"]["containers"][1]["securityContext"]["capabilities"] == {
        "add": ["NET_ADMIN", "NET_RAW"]}
    assert "hostPID" not in n["spec"]


def test_filename_names_the_pod(server_url: str, kubectl: Kubectl, ns: str,
                                tmp_path: Any) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: absent\n  namespace: {ns}\n"
                 # (kubectl 1.37 dereferences spec.securityContext of a pod read from a file)
                 "spec:\n  securityContext: {}\n  containers:\n  - name: c\n    image: nginx\n")
    want = kubectl("debug", "-f", str(f), "--image=minik8s/busybox", "-c", "d", check=False)
    got = mctl(server_url, "debug", "-f", str(f), "--image=minik8s/busybox", "-c", "d")
    assert want.returncode == got.exit_code == 1, (want, got.output)
    assert got.stderr.strip() == want.stderr.strip() == \
        'Error from server (NotFound): pods "absent" not found'
