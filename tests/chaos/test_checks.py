"""The chaos checks can fail: each one against a plain API server (no controllers) holding
exactly the damage it looks for, and quiet once the damage is gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.chaos import Checker, NodeNameWatch, Row, audit_bindings, table
from testing.support import unique
from tests.chaos.scenarios import deployment, pod_spec, statefulset

pytestmark = pytest.mark.chaos


def binding(ns: str, pod: str, uid: str, node: str, code: int = 201) -> str:
    return json.dumps({
        "kind": "Event", "stage": "ResponseComplete", "auditID": unique("a"),
        "objectRef": {"resource": "pods", "namespace": ns, "name": pod, "subresource": "binding"},
        "responseStatus": {"code": code},
        "requestObject": {"kind": "Binding", "metadata": {"name": pod, "uid": uid},
                          "target": {"kind": "Node", "name": node}}})


def test_audit_bindings_are_counted_per_pod_uid(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("\n".join([binding("n", "p", "u1", "node1"), binding("n", "q", "u2", "node1"),
                            binding("n", "q", "u2", "node2", code=409), "not json"]) + "\n")
    b.write_text(binding("n", "p", "u1", "node2") + "\n" + binding("n", "p", "u3", "node1") + "\n")
    got = audit_bindings([a, b, tmp_path / "missing.log"])
    assert len(got[("n", "p", "u1")]) == 2
    assert [node for _, node in got[("n", "q", "u2")]] == ["node1"]
    assert len(got[("n", "p", "u3")]) == 1


def test_a_pod_seen_on_two_nodes_is_reported() -> None:
    w = NodeNameWatch("http://127.0.0.1:1", "n")
    pod = {"metadata": {"name": "p", "uid": "u1"}, "spec": {"nodeName": "node1"}}
    w.note(pod)
    w.note({"metadata": {"name": "q", "uid": "u2"}, "spec": {}})
    assert w.moved() == []
    w.note({**pod, "spec": {"nodeName": "node2"}})
    assert w.moved() == ["pod p (u1) seen on ['node1', 'node2']"]


def owned(name: str, kind: str, owner: dict[str, Any], node: str = "") -> dict[str, Any]:
    spec = pod_spec(["sleep", "3600"])
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "labels": {"app": owner["metadata"]["name"]},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind,
                                              "name": owner["metadata"]["name"],
                                              "uid": owner["metadata"]["uid"],
                                              "controller": True}]},
            "spec": spec}


def test_each_check_finds_its_damage(server_url: str, tmp_path: Path) -> None:
    ns = unique("chk")
    c = Checker(server_url, ns, audit_logs=[tmp_path / "audit.log"])
    try:
        assert c.api.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
        base = f"/api/v1/namespaces/{ns}"
        apps = f"/apis/apps/v1/namespaces/{ns}"
        code, cm = c.api.call("POST", f"{base}/configmaps", {"metadata": {"name": "ack-0"}})
        assert code == 201
        c.acked = {"ack-0": cm["metadata"]["uid"], "ack-1": "lost-uid"}
        assert c.acks() == ["acknowledged ConfigMap ack-1 (lost-uid) is missing"]

        rs_body = deployment("web", replicas=1)
        rs_body["kind"] = "ReplicaSet"
        code, rs = c.api.call("POST", f"{apps}/replicasets", rs_body)
        assert code == 201, rs
        code, ss = c.api.call("POST", f"{apps}/statefulsets", statefulset("db"))
        assert code == 201, ss
        for name in ("web-a", "web-b"):
            assert c.api.call("POST", f"{base}/pods", owned(name, "ReplicaSet", rs, "n1"))[0] == 201
        for name in ("db-0", "db-1", "db-7"):
            assert c.api.call("POST", f"{base}/pods", owned(name, "StatefulSet", ss))[0] == 201
        slots = c.slots()
        assert any("ReplicaSet web: 2 live pods for 1 replicas" in s for s in slots), slots
        assert any("StatefulSet db: pods ['db-0', 'db-1', 'db-7'] for 3 ordinals" in s
                   for s in slots), slots

        gone = {"metadata": {"name": "gone", "uid": "0000-gone"}}
        assert c.api.call("POST", f"{base}/pods", owned("orphan", "ReplicaSet", gone))[0] == 201
        assert c.orphans() == ["Pod orphan: owner ReplicaSet gone is gone"]

        web_a = c.api.get(f"{base}/pods/web-a")
        (tmp_path / "audit.log").write_text(
            binding(ns, "web-a", web_a["metadata"]["uid"], "n1") + "\n"
            + binding(ns, "web-a", web_a["metadata"]["uid"], "n2") + "\n")
        problems = c.bindings()
        assert any("bound 2 times" in p for p in problems), problems
        (tmp_path / "audit.log").write_text(binding(ns, "web-a", web_a["metadata"]["uid"], "n2"))
        assert c.bindings() == ["pod web-a bound to n2 runs on n1"]

        # the damage undone: every check quiet
        for name in ("web-b", "db-7", "orphan"):
            c.api.call("DELETE", f"{base}/pods/{name}", {"gracePeriodSeconds": 0})
        c.api.call("POST", f"{base}/pods", owned("db-2", "StatefulSet", ss))
        (tmp_path / "audit.log").write_text(binding(ns, "web-a", web_a["metadata"]["uid"], "n1"))
        c.acked.pop("ack-1")
        results = c.run()
        assert not any(results.values()), results
        n = len(results)
        assert f"{n}/{n} passed" in table([Row("kill9", "x", "create", 1.0, results)])
        assert "failed: acks" in table([Row("kill9", "x", "create", 1.0, {"acks": ["lost"]})])
    finally:
        c.api.call_once("DELETE", f"/api/v1/namespaces/{ns}")
        c.close()
