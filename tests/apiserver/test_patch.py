"""Unit tests of apiserver.patch: the three patch formats and their errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apiserver.patch import PatchError, apply_patch

SMP = "application/strategic-merge-patch+json"


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"],
                     "ownerReferences": [{"uid": "u1", "name": "rs", "kind": "ReplicaSet",
                                          "apiVersion": "apps/v1"}]},
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "volumeMounts": [{"name": "v", "mountPath": "/data"}]},
                {"name": "side", "image": "busybox", "args": ["sleep", "1"]},
            ],
            "tolerations": [{"key": "k", "operator": "Exists"}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"},
                                  {"type": "PodScheduled", "status": "True"}]},
    }


def smp(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    return apply_patch(SMP, original, json.dumps(patch).encode())


def test_merge_patch_rfc7386() -> None:
    orig = pod()
    out = apply_patch("application/merge-patch+json; charset=utf-8", orig,
                      b'{"metadata": {"labels": {"a": null, "c": "3"}},'
                      b' "spec": {"containers": [{"name": "only"}]}}')
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert out["spec"]["containers"] == [{"name": "only"}]  # lists replace
    assert orig["metadata"]["labels"] == {"a": "1", "b": "2"}  # input untouched


def test_json_patch_rfc6902() -> None:
    ops = [{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
           {"op": "add", "path": "/metadata/labels/c", "value": "3"},
           {"op": "remove", "path": "/metadata/labels/a"},
           {"op": "test", "path": "/metadata/name", "value": "p"}]
    out = apply_patch("application/json-patch+json", pod(), json.dumps(ops).encode())
    assert out["spec"]["containers"][0]["image"] == "nginx:2"
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}


@pytest.mark.parametrize("ctype,body,code", [
    ("application/merge-patch+json", b"{not json", 400),
    ("application/merge-patch+json", b"[1, 2]", 400),
    ("application/json-patch+json", b'{"op": "add"}', 400),
    ("application/json-patch+json", b'[{"op": "frobnicate", "path": "/a"}]', 400),
    ("application/json-patch+json", b'[{"op": "remove", "path": "/nope/x"}]', 422),
    ("application/json-patch+json", b'[{"op": "test", "path": "/metadata/name", "value": "q"}]',
     422),
    (SMP, b'{"spec": {"containers": [{"image": "x"}]}}', 422),
    (SMP, b'{"metadata": {"$patch": "explode"}}', 400),
    # Malformed directives are PatchErrors raised where they are read (400, as
    # Kubernetes' mergepatch.ErrBadPatchFormatFor* are), not TypeErrors caught later.
    (SMP, b'{"metadata": {"$retainKeys": [{"a": 1}]}}', 400),
    (SMP, b'{"$retainKeys": [[1]], "spec": {}}', 400),
    (SMP, b'{"spec": {"$retainKeys": "containers"}}', 400),
    (SMP, b'{"spec": {"$setElementOrder/containers": {"x": 1}}}', 400),
    (SMP, b'{"spec": {"$setElementOrder/containers": [{"name": ["web"]}]}}', 400),
    (SMP, b'{"spec": {"$setElementOrder/containers": ["web"]}}', 400),
    (SMP, b'{"metadata": {"$setElementOrder/finalizers": [{"a": "b"}]}}', 400),
    ("application/apply-patch+yaml", b"spec:\n  $setElementOrder/containers: [[1]]\n", 400),
    ("application/apply-patch+yaml", b"a: [b", 400),
    ("text/plain", b"{}", 415),
])
def test_bad_patches_are_typed(ctype: str, body: bytes, code: int) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(ctype, pod(), body)
    assert info.value.code == code
    assert info.value.reason == {400: "BadRequest", 415: "UnsupportedMediaType"}.get(code,
                                                                                    "Invalid")


def test_strategic_merges_containers_env_ports_by_key() -> None:
    out = smp(pod(), {"spec": {"containers": [
        {"name": "web", "image": "nginx:2",
         "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
         "ports": [{"containerPort": 443}]}]}})
    web, side = out["spec"]["containers"]
    assert side["name"] == "side" and side["image"] == "busybox"
    assert web["image"] == "nginx:2"
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"},
                          {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in web["ports"]] == [80, 443]
    assert web["volumeMounts"] == [{"name": "v", "mountPath": "/data"}]


def test_strategic_conditions_by_type_and_owner_refs_by_uid() -> None:
    out = smp(pod(), {"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                      "metadata": {"ownerReferences": [{"uid": "u2", "name": "other",
                                                        "kind": "ReplicaSet",
                                                        "apiVersion": "apps/v1"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}]
    assert [o["uid"] for o in out["metadata"]["ownerReferences"]] == ["u1", "u2"]


def test_strategic_unkeyed_lists_replace_and_finalizers_merge() -> None:
    out = smp(pod(), {"spec": {"tolerations": [{"key": "z", "operator": "Exists"}],
                               "containers": [{"name": "side", "args": ["sleep", "9"]}]},
                      "metadata": {"finalizers": ["y"]}})
    assert out["spec"]["tolerations"] == [{"key": "z", "operator": "Exists"}]
    assert out["spec"]["containers"][1]["args"] == ["sleep", "9"]
    assert out["metadata"]["finalizers"] == ["x", "y"]


def test_strategic_directives() -> None:
    out = smp(pod(), {"spec": {"containers": [{"name": "side", "$patch": "delete"},
                                              {"name": "web", "env": [{"name": "A",
                                                                       "$patch": "delete"}]}]},
                      "metadata": {"labels": {"$patch": "replace", "z": "9"},
                                   "$deleteFromPrimitiveList/finalizers": ["x"]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["web"]
    assert out["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert out["metadata"]["labels"] == {"z": "9"}
    assert out["metadata"]["finalizers"] == []

    out = smp(pod(), {"spec": {"containers": [{"$patch": "replace"},
                                              {"name": "new", "image": "x"}]}})
    assert out["spec"]["containers"] == [{"name": "new", "image": "x"}]
    out = smp(pod(), {"status": {"$patch": "delete"}, "metadata": {"labels": None}})
    assert "status" not in out and "labels" not in out["metadata"]


def test_strategic_set_element_order_as_kubectl_apply_sends() -> None:
    # What `kubectl apply` sends after a container's image changed.
    patch = {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
                      "containers": [{"name": "web", "image": "nginx:3"}]}}
    out = smp(pod(), patch)
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "web"]
    assert out["spec"]["containers"][1]["image"] == "nginx:3"
    assert "$setElementOrder/containers" not in out["spec"]


def test_apply_patch_yaml_merges() -> None:
    out = apply_patch("application/apply-patch+yaml", pod(),
                      b"metadata:\n  labels:\n    c: '3'\nspec:\n  containers:\n"
                      b"  - name: web\n    image: nginx:9\n")
    assert out["metadata"]["labels"] == {"a": "1", "b": "2", "c": "3"}
    assert out["spec"]["containers"][0]["image"] == "nginx:9"
    assert len(out["spec"]["containers"]) == 2
