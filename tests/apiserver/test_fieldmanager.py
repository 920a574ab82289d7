"""Unit tests of apiserver.fieldmanager: field sets and fieldsV1, the typed walks
(merge order, comparison), and the managedFields bookkeeping (Update/Apply entries,
conflicts, removal, the cap of ten Update managers, resets)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from api import resources
from apiserver.fieldmanager import context, fieldpath, manager, schema, typed, validation
from apiserver.strategies import strategy_for

DEPLOY = context(resources.DEPLOYMENTS, strategy_for(resources.DEPLOYMENTS))
CONFIGMAP = context(resources.CONFIGMAPS, strategy_for(resources.CONFIGMAPS))


def cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": dict(data)}


def fields(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(e["manager"], e["operation"]): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields", [])}


def test_fields_v1_round_trip_and_order() -> None:
    doc = {"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
           "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}},
                      "f:finalizers": {'v:"x"': {}}}}
    paths = fieldpath.from_fields_v1(doc)
    assert ("f:metadata", "f:labels") in paths and ("f:metadata",) not in paths
    assert fieldpath.to_fields_v1(paths) == doc
    assert list(fieldpath.to_fields_v1({("i:10",), ("f:z",), ("i:2",), ("k:{}",)})) == \
        ["f:z", "k:{}", "i:2", "i:10"]
    with pytest.raises(fieldpath.FieldsError):
        fieldpath.from_fields_v1({"x:y": {}})
    assert fieldpath.path_string(("f:spec", 'k:{"name":"c","port":80}', "f:image")) == \
        '.spec[name="c",port=80].image'


def test_merge_keeps_live_order_and_inserts_applied_items() -> None:
    t = schema.builtin_root("apps", "v1", "Deployment")
    assert t is not None
    pod = t.field("spec").field("template").field("spec")  # type: ignore[union-attr]
    assert pod is not None
    live = {"containers": [{"name": "a"}, {"name": "x", "image": "other"}, {"name": "b"}]}
    cfg = {"containers": [{"name": "b", "image": "1"}, {"name": "a"}, {"name": "n"}]}
    out = typed.merge(live, cfg, pod)
    assert [c["name"] for c in out["containers"]] == ["x", "b", "a", "n"]
    assert out["containers"][1] == {"name": "b", "image": "1"}


def test_create_records_what_kubernetes_records() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "d", "labels": {"app": "d"}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%"}},
                    "template": {"metadata": {"labels": {"app": "d"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}},
           "status": {}}
    manager.update(DEPLOY, None, obj, "kubectl-create")
    assert fields(obj)[("kubectl-create", "Update")] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {},
                   "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}},
                                  "f:type": {}},
                   "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                  "f:spec": {"f:containers": {'k:{"name":"c"}': {
                                      ".": {}, "f:image": {}, "f:name": {}}}}}}}


def test_apply_conflicts_force_and_removal() -> None:
    live = manager.apply(CONFIGMAP, None, cm(a="1", b="1"), "one", False)
    with pytest.raises(manager.Conflicts) as e:
        manager.apply(CONFIGMAP, live, cm(a="2"), "two", False)
    assert e.value.message() == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    # The same value is no conflict: both own it.
    shared = manager.apply(CONFIGMAP, live, cm(a="1"), "two", False)
    assert fields(shared)[("two", "Apply")] == {"f:data": {"f:a": {}}}
    forced = manager.apply(CONFIGMAP, live, cm(a="2"), "two", True)
    assert forced["data"] == {"a": "2", "b": "1"}
    assert fields(forced)[("one", "Apply")] == {"f:data": {"f:b": {}}}
    # "one" stops applying b: nobody else owns it, so it goes.
    dropped = manager.apply(CONFIGMAP, forced, cm(), "one", False)
    assert dropped["data"] == {"a": "2"}


def test_before_first_apply_and_reset() -> None:
    live = cm(a="1")
    with pytest.raises(manager.Conflicts) as e:
        manager.apply(CONFIGMAP, live, cm(a="2"), "late", False)
    assert 'conflict with "before-first-apply" using v1: .data.a' in e.value.message()
    new = copy.deepcopy(manager.apply(CONFIGMAP, None, cm(a="1"), "one", False))
    new["metadata"]["managedFields"] = []
    manager.update(CONFIGMAP, new, new, "x")
    assert "managedFields" not in new["metadata"]


def test_update_managers_capped_at_ten() -> None:
    obj = cm()
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        manager.update(CONFIGMAP, obj, new, f"m{i:02d}")
        for n, e in enumerate(new["metadata"]["managedFields"]):
            e["time"] = f"2026-01-01T00:00:{n:02d}Z"  # distinct times, oldest first
        obj = new
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names


class FakeSchema:
    """A custom resource's schema as api.structural exposes it."""

    def list_type(self, path: tuple[str, ...]) -> tuple[str, list[str]] | None:
        return {("spec", "items"): ("map", ["id"]), ("spec", "tags"): ("set", [])}.get(path)

    def map_type(self, path: tuple[str, ...]) -> str | None:
        return "atomic" if path == ("spec", "sel") else None


def test_custom_schema_list_types() -> None:
    t = schema.root_type(resources.CONFIGMAPS, FakeSchema())
    got = typed.to_set({"spec": {"items": [{"id": 1, "v": 2}], "tags": ["a"],
                                 "sel": {"x": "y"}}}, t)
    assert ("f:spec", "f:items", 'k:{"id":1}', "f:v") in got
    assert ("f:spec", "f:tags", 'v:"a"') in got
    assert ("f:spec", "f:sel") in got and ("f:spec", "f:sel", "f:x") not in got


def test_unknown_and_duplicate_fields() -> None:
    t = schema.builtin_root("", "v1", "Pod")
    assert t is not None
    pod = {"spec": {"containers": [{"name": "c", "imagePullPolcy": "x"}], "nodeName": "n"},
           "bogus": 1}
    assert validation.unknown_fields(pod, t) == ["spec.containers[0].imagePullPolcy", "bogus"]
    assert validation.unknown_fields(pod, t, keyed=True) == [
        '.spec.containers[name="c"].imagePullPolcy', ".bogus"]
    assert validation.duplicate_fields(b'{"a": {"b": 1, "b": 2}, "a": 3}') == ["b", "a"]
    assert validation.directive("strict") == "Strict" and validation.directive(None) == "Warn"
    with pytest.raises(validation.BadDirective):
        validation.directive("loud")
    assert manager.manager_from_user_agent("kubectl/v1.37.0 (linux/amd64)") == "kubectl"
