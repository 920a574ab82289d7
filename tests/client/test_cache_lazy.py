"""The informer's compact store and its lazily validated objects (no server needed)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import orjson
import pytest

from api import resources
from api.models import ObjectMeta, Pod
from client.cache import (
    CONTROLLER_UID_INDEX,
    LABEL_INDEX,
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    OWNER_UID_INDEX,
    Store,
    meta_key,
)
from client.errors import Gone
from client.informer import WatchLines
from client.lazy import is_lazy, lazy, wire


def wire_pod(name: str, ns: str = "default", *, rv: str = "1", node: str | None = None,
             labels: dict[str, str] | None = None, owner: str | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{name}",
                          "resourceVersion": rv, "labels": labels or {"app": "x"},
                          "managedFields": [{"manager": "m", "operation": "Update",
                                             "fieldsV1": {"f:metadata": {}}}]}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                  "uid": owner, "controller": True}]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx",
                                            "ports": [{"containerPort": 80}]}],
                            "x-unknown": {"kept": True}}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
            "status": {"phase": "Pending"}}


def test_lazy_object_is_the_model_once_touched() -> None:
    d = wire_pod("a", node="n1")
    expected = Pod.model_validate(d)
    obj = lazy(Pod, data=d)
    assert isinstance(obj, Pod) and is_lazy(obj)
    assert meta_key(obj) == "default/a" and is_lazy(obj)  # read from the wire form
    assert obj.spec.node_name == "n1" and is_lazy(obj)  # one field: validated alone
    assert obj.model_dump() == expected.model_dump()
    assert type(obj) is Pod and not is_lazy(obj) and wire(obj) is None
    assert obj == expected and expected == obj
    assert obj.to_dict() == d
    # every way in sees the validated object, even as the first access
    for touch in (lambda o: o == expected, lambda o: expected == o, repr, dict,
                  lambda o: o.model_dump_json(), copy.copy, copy.deepcopy,
                  lambda o: pickle.loads(pickle.dumps(o)), lambda o: o.copy_deep(),
                  lambda o: o.__class__):
        fresh = lazy(Pod, data=wire_pod("a", node="n1"))
        touch(fresh)
        assert type(fresh) is Pod and fresh == expected
    assert resources.for_model(type(lazy(Pod, data=d))) is resources.PODS


def test_fields_read_alone_are_validated_alone() -> None:
    made: list[Pod] = []
    obj = lazy(Pod, raw=orjson.dumps(wire_pod("b", labels={"k": "v"})), hook=made.append)
    meta = obj.metadata
    assert isinstance(meta, ObjectMeta) and meta.labels == {"k": "v"}
    assert is_lazy(obj) and not made and obj.metadata is meta
    status = obj.status
    assert status is not None and status.phase == "Pending" and is_lazy(obj) and not made
    assert obj.kind == "Pod" and is_lazy(obj)
    assert obj.to_dict()["spec"]["containers"][0]["name"] == "c"  # a method: the whole
    assert type(obj) is Pod and made == [obj]
    assert obj.metadata is meta and obj.status is status
    assert obj == Pod.model_validate(wire_pod("b", labels={"k": "v"}))
    assert obj.model_fields_set == Pod.model_validate(wire_pod("b")).model_fields_set


def test_invalid_wire_form_raises_on_access() -> None:
    obj = lazy(Pod, data={"metadata": {"name": "x"}, "spec": {"containers": "no"}})
    with pytest.raises(ValueError):
        _ = obj.spec


def test_store_keeps_bytes_and_makes_typed_objects_on_access() -> None:
    store: Store[Pod] = Store(model_cls=Pod)
    new, old = store.put_wire(wire_pod("a", node="n1", owner="rs-1", labels={"app": "w"}))
    assert old is None and is_lazy(new)
    store.put_wire(wire_pod("b", ns="other", node="n2"))
    assert len(store) == 2 and "default/a" in store
    assert store.resource_version("default/a") == "1"
    # indexes from the wire form, nothing validated yet
    assert store.index_keys(NAMESPACE_INDEX, "default") == ["default/a"]
    assert store.index_keys(NODE_NAME_INDEX, "n2") == ["other/b"]
    assert store.index_keys(OWNER_UID_INDEX, "rs-1") == ["default/a"]
    assert store.index_keys(CONTROLLER_UID_INDEX, "rs-1") == ["default/a"]
    assert store.index_keys(LABEL_INDEX, "app=w") == ["default/a"]
    assert is_lazy(new)
    got = store.get("default/a")
    assert type(got) is Pod and got.spec.node_name == "n1"
    assert store.get("default/a") is got  # the same instance while cached
    assert [p.metadata.name for p in store.by_index(NODE_NAME_INDEX, "n2")] == ["b"]
    # a handler's object, once validated, is the one readers get
    new2, old2 = store.put_wire(wire_pod("a", rv="2", node="n3"))
    assert old2 is got
    assert store.index_keys(NODE_NAME_INDEX, "n1") == [] and \
        store.index_keys(NODE_NAME_INDEX, "n3") == ["default/a"]
    assert new2.spec.node_name == "n3" and is_lazy(new2)
    assert store.get("default/a") == new2  # made again from the bytes: the same object
    new3, _ = store.put_wire(wire_pod("a", rv="3", node="n3"))
    new3.model_dump()  # validated whole: then it is the one readers get
    assert store.get("default/a") is new3
    new2 = new3
    gone = store.delete("default/a")
    assert gone is new2 and store.get("default/a") is None
    assert store.index_keys(LABEL_INDEX, "app=x") == ["other/b"]


def test_cache_is_bounded_and_copies_are_safe() -> None:
    store: Store[Pod] = Store(model_cls=Pod, cache_size=2)
    for i in range(5):
        store.put_wire(wire_pod(f"p{i}"))
    first = store.get("default/p0")
    assert first is not None
    store.get("default/p1")
    store.get("default/p2")  # p0 leaves the cache
    again = store.get("default/p0")
    assert again is not first and again == first
    # a copy changed by its taker leaves the store as it was
    mine = again.copy_deep()
    assert mine.metadata.labels is not None
    mine.metadata.labels["app"] = "changed"
    assert store.get("default/p0") == first
    assert [p.metadata.name for p in sorted(store.list(), key=meta_key)] == \
        [f"p{i}" for i in range(5)]


def test_adopt_keeps_unchanged_entries_and_reports_differences() -> None:
    store: Store[Pod] = Store(model_cls=Pod)
    for name in ("a", "b", "c"):
        store.put_wire(wire_pod(name))
    kept = store.get("default/a")
    fresh = store.fresh()
    fresh.put_wire(wire_pod("a"))
    fresh.put_wire(wire_pod("c", rv="5", node="n9"))
    fresh.put_wire(wire_pod("d"))
    notes = store.adopt(fresh)
    assert [(k, key, old and meta_key(old)) for k, key, old in notes] == [
        ("delete", "default/b", "default/b"), ("update", "default/c", "default/c"),
        ("add", "default/d", None)]
    assert store.get("default/a") is kept
    assert store.index_keys(NODE_NAME_INDEX, "n9") == ["default/c"]
    assert sorted(store.keys()) == ["default/a", "default/c", "default/d"]
    # a view handed to a handler joins the cache when it validates
    new_c = store.peek("default/c")
    assert new_c is not None and new_c.spec.node_name == "n9"
    new_c.copy_deep()
    assert store.get("default/c") is new_c


def test_typed_puts_and_custom_indexes() -> None:
    store: Store[Pod] = Store(model_cls=Pod)
    typed = Pod.model_validate(wire_pod("t", node="n1"))
    assert store.put(typed) is None
    assert store.get("default/t") is typed
    store.put_wire(wire_pod("w", node="n1"))
    store.add_index("phase", lambda o: [o.status.phase] if isinstance(o, Pod) and o.status
                    and o.status.phase else [])
    assert store.index_keys("phase", "Pending") == ["default/t", "default/w"]
    store.delete("default/w")
    assert store.index_keys("phase", "Pending") == ["default/t"]


def test_watch_lines_keep_the_objects_json() -> None:
    obj = wire_pod("a")
    usual = orjson.dumps({"type": "MODIFIED", "object": obj})
    spaced = b'{"type": "ADDED", "object": ' + orjson.dumps(obj) + b"}"
    keys_swapped = b'{"object":' + orjson.dumps(obj) + b',"type":"ADDED"}'
    dec = WatchLines()
    got = list(dec.feed(usual + b"\n" + spaced + b"\n" + keys_swapped[:40]))
    got += list(dec.feed(keys_swapped[40:] + b"\n")) + dec.flush()
    assert [ev["type"] for ev, _ in got] == ["MODIFIED", "ADDED", "ADDED"]
    assert all(ev["object"] == obj for ev, _ in got)
    raw = got[0][1]
    assert raw is not None and orjson.loads(raw) == obj
    assert got[1][1] is None and got[2][1] is None  # other forms: encoded again when stored
    gone = orjson.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                     "reason": "Expired", "message": "old"}})
    with pytest.raises(Gone):
        list(WatchLines().feed(gone + b"\n"))


def test_unknown_attributes_and_extra_fields() -> None:
    d = wire_pod("e") | {"extraTop": {"x": 1}}
    obj = lazy(Pod, data=d)
    assert getattr(obj, "obj", None) is None and not hasattr(obj, "nothing")
    assert is_lazy(obj)  # answered without validating anything
    assert getattr(obj, "extraTop") == {"x": 1}  # noqa: B009  an extra field of the wire form: the whole object
    assert type(obj) is Pod and obj.spec.model_extra == {"x-unknown": {"kept": True}}
    with pytest.raises(AttributeError):
        _ = getattr(obj, "nothing")  # noqa: B009


def test_default_indexes_from_the_wire_match_the_typed_ones() -> None:
    typed: Store[Pod] = Store()
    wired: Store[Pod] = Store(model_cls=Pod)
    shapes = [wire_pod("a"), wire_pod("b", node="n", owner="o", labels={"x": "1", "y": "2"}),
              wire_pod("c", labels={"only": "one"}), wire_pod("d", labels={})]
    ref = {"apiVersion": "v1", "kind": "X", "name": "x"}
    shapes[3]["metadata"]["ownerReferences"] = [ref | {"uid": "u1"},
                                                ref | {"uid": "u2", "controller": True}]
    for d in shapes:
        typed.put(Pod.model_validate(d))
        wired.put_wire(d)
    for name in (NAMESPACE_INDEX, NODE_NAME_INDEX, OWNER_UID_INDEX, CONTROLLER_UID_INDEX,
                 LABEL_INDEX):
        for value in ("default", "n", "o", "u1", "u2", "x=1", "y=2", "only=one", "app=x"):
            assert typed.index_keys(name, value) == wired.index_keys(name, value), (name, value)
