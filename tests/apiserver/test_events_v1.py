"""events.k8s.io/v1 Events over the core/v1 Events' storage: one object through both
groups, events.k8s.io's field names, field selectors and strict checks, discovery, the
official client's EventsV1Api, real kubectl (``get events.events.k8s.io``, ``events``)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kc
from kubernetes.client.exceptions import ApiException

from testing.apiclient import Api, Watch
from testing.kubectl import Kubectl
from testing.secure import SecureApiServer
from testing.support import json_request, unique

V1 = "/apis/events.k8s.io/v1"
AUTHORIZATION_MODE = "RBAC"  # the secure_apiserver of test_rbac_sees_the_group
RBAC = "/apis/rbac.authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def v1_event(name: str, ns: str, **over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "eventTime": now(), "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1", "action": "Reconcile", "reason": "Synced",
        "type": "Normal", "note": "all good",
        "regarding": {"kind": "Pod", "name": "web-0", "namespace": ns, "apiVersion": "v1"}}
    e.update(over)
    return e


def test_discovery_lists_the_group(api: Api) -> None:
    groups = api.ok("GET", "/apis")["groups"]
    g = next(g for g in groups if g["name"] == "events.k8s.io")
    assert g["versions"] == [{"groupVersion": "events.k8s.io/v1", "version": "v1"}]
    assert g["preferredVersion"]["version"] == "v1"
    assert api.ok("GET", "/apis/events.k8s.io")["name"] == "events.k8s.io"
    res = api.ok("GET", V1)
    assert res["groupVersion"] == "events.k8s.io/v1"
    ev = next(r for r in res["resources"] if r["name"] == "events")
    assert ev["kind"] == "Event" and ev["namespaced"] and ev["shortNames"] == ["ev"]
    # autoscaling/v1 is still listed behind the preferred v2
    auto = next(g for g in groups if g["name"] == "autoscaling")
    assert [v["version"] for v in auto["versions"]] == ["v2", "v1"]


def test_one_object_through_both_groups(api: Api, ns: str) -> None:
    created = api.ok("POST", f"{V1}/namespaces/{ns}/events", v1_event("e1", ns), 201)
    assert created["apiVersion"] == "events.k8s.io/v1"
    assert created["note"] == "all good" and created["regarding"]["name"] == "web-0"
    assert created["reportingController"] == "example.com/ctl"
    assert "involvedObject" not in created and "message" not in created
    core = api.ok("GET", f"/api/v1/namespaces/{ns}/events/e1")
    assert core["apiVersion"] == "v1"
    assert core["involvedObject"]["name"] == "web-0" and core["message"] == "all good"
    assert core["reportingComponent"] == "example.com/ctl"
    # and the other way: a core Event read through events.k8s.io
    api.ok("POST", f"/api/v1/namespaces/{ns}/events", {
        "metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "db-0",
                                                       "namespace": ns},
        "reason": "Started", "message": "started", "type": "Normal", "count": 3,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z"},
        201)
    got = api.ok("GET", f"{V1}/namespaces/{ns}/events/e2")
    assert got["regarding"]["name"] == "db-0" and got["note"] == "started"
    assert got["deprecatedCount"] == 3
    assert got["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert got["deprecatedFirstTimestamp"] == "2026-01-01T00:00:00Z"
    assert got["eventTime"] is None  # not omitempty in events.k8s.io/v1
    items = api.ok("GET", f"{V1}/namespaces/{ns}/events")
    assert items["kind"] == "EventList" and items["apiVersion"] == "events.k8s.io/v1"
    assert sorted(i["metadata"]["name"] for i in items["items"]) == ["e1", "e2"]
    assert all("regarding" in i for i in items["items"])


def test_field_selectors_use_events_names(api: Api, ns: str) -> None:
    api.ok("POST", f"{V1}/namespaces/{ns}/events", v1_event("a", ns), 201)
    api.ok("POST", f"{V1}/namespaces/{ns}/events", v1_event(
        "b", ns, regarding={"kind": "Service", "name": "n1", "namespace": ns},
        reportingController="x.io/y"),
        201)
    def names(sel: str) -> list[str]:
        out = api.ok("GET", f"{V1}/namespaces/{ns}/events", fieldSelector=sel)
        return sorted(i["metadata"]["name"] for i in out["items"])
    assert names("regarding.name=web-0") == ["a"]
    assert names("regarding.kind=Service") == ["b"]
    assert names("reportingController=x.io/y") == ["b"]
    assert names("regarding.kind!=Service,type=Normal") == ["a"]
    code, body = api.call("GET", f"{V1}/namespaces/{ns}/events", fieldSelector="note=x")
    assert code == 400 and body["kind"] == "Status", body


def test_strict_checks_of_events_v1(api: Api, ns: str) -> None:
    bad = v1_event("s1", ns, deprecatedCount=2, type="Fatal")
    del bad["eventTime"]
    code, body = api.call("POST", f"{V1}/namespaces/{ns}/events", bad)
    assert code == 422, body
    causes = {(c["field"], c["message"]) for c in body["details"]["causes"]}
    assert ("eventTime", "Required value") in causes
    assert ("count", 'Invalid value: "": needs to be unset') in causes
    assert ("type", 'Invalid value: "": has invalid value: Fatal') in causes
    assert body["details"]["group"] == "events.k8s.io"
    # the same object through core/v1 keeps the legacy leniency
    core = {"metadata": {"name": "s1"}, "involvedObject": {"namespace": ns}, "count": 2,
            "type": "Fatal"}
    api.ok("POST", f"/api/v1/namespaces/{ns}/events", core, 201)
    # updates: the note is immutable; a series may be added
    api.ok("POST", f"{V1}/namespaces/{ns}/events", v1_event("s2", ns), 201)
    code, body = api.call("PATCH", f"{V1}/namespaces/{ns}/events/s2", {"note": "changed"},
                          content_type="application/merge-patch+json")
    assert code == 422 and body["details"]["causes"][0]["field"] == "message", body
    code, body = api.call("PATCH", f"{V1}/namespaces/{ns}/events/s2",
                          {"series": {"count": 1, "lastObservedTime": now()}},
                          content_type="application/merge-patch+json")
    assert code == 422 and body["details"]["causes"][0]["field"] == "series.count", body
    out = api.ok("PATCH", f"{V1}/namespaces/{ns}/events/s2",
                 {"series": {"count": 2, "lastObservedTime": now()}},
                 content_type="application/merge-patch+json")
    assert out["series"]["count"] == 2 and out["apiVersion"] == "events.k8s.io/v1"


def test_watch_through_events_v1(server_url: str, api: Api, ns: str) -> None:
    w = Watch(server_url, f"{V1}/namespaces/{ns}/events")
    try:
        api.ok("POST", f"/api/v1/namespaces/{ns}/events", {
            "metadata": {"name": "w1"}, "involvedObject": {"kind": "Pod", "name": "p",
                                                           "namespace": ns},
            "message": "hello"}, 201)
        ev = w.next_non_bookmark()
        assert ev["type"] == "ADDED"
        assert ev["object"]["apiVersion"] == "events.k8s.io/v1"
        assert ev["object"]["note"] == "hello" and ev["object"]["regarding"]["name"] == "p"
    finally:
        w.close()


def test_official_client_events_v1_api(server_url: str, ns: str) -> None:
    cfg = kc.Configuration()
    cfg.host = server_url
    with kc.ApiClient(cfg) as c:
        ev1 = kc.EventsV1Api(c)
        body = kc.EventsV1Event(
            metadata=kc.V1ObjectMeta(name="o1"),
            event_time=datetime.datetime.now(datetime.UTC),
            reporting_controller="example.com/ctl", reporting_instance="i",
            action="Act", reason="Why", type="Warning", note="hi",
            regarding=kc.V1ObjectReference(kind="Pod", name="x", namespace=ns))
        made = ev1.create_namespaced_event(ns, body)
        assert made.note == "hi" and made.regarding.name == "x"
        listed = ev1.list_namespaced_event(ns, field_selector="regarding.name=x")
        assert [e.metadata.name for e in listed.items] == ["o1"]
        core = kc.CoreV1Api(c).read_namespaced_event("o1", ns)
        assert core.message == "hi" and core.involved_object.name == "x"
        assert core.reporting_component == "example.com/ctl"
        with pytest.raises(ApiException) as e:
            ev1.create_namespaced_event(ns, kc.EventsV1Event(
                metadata=kc.V1ObjectMeta(name="o2"),
                event_time=datetime.datetime.now(datetime.UTC), reason="r", type="Normal",
                regarding=kc.V1ObjectReference(kind="Pod", name="x", namespace=ns)))
        assert e.value.status == 422
        ev1.delete_namespaced_event("o1", ns)
        assert ev1.list_namespaced_event(ns).items == []


def test_rbac_sees_the_group(secure_apiserver: SecureApiServer, tmp_path: Path) -> None:
    """A user allowed core Events only is refused events.k8s.io's, with its own resource
    name in the message (RBAC on the group the request names)."""
    s = secure_apiserver
    ns = unique("ns")
    base = s.insecure_url
    for path, body in (
            ("/api/v1/namespaces", {"metadata": {"name": ns}}),
            (f"{RBAC}/namespaces/{ns}/roles", {
                "metadata": {"name": "core-events"},
                "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]}),
            (f"{RBAC}/namespaces/{ns}/rolebindings", {
                "metadata": {"name": "core-events"},
                "roleRef": {"apiGroup": G, "kind": "Role", "name": "core-events"},
                "subjects": [{"kind": "User", "name": "ev-user", "apiGroup": G}]})):
        code, out = json_request("POST", base + path, body)
        assert code == 201, (code, out)
    kubectl = s.kubectl(s.user("ev-user"), tmp_path / "k")
    assert kubectl("get", "events", "-n", ns).returncode == 0
    r = kubectl("get", "events.events.k8s.io", "-n", ns, check=False)
    assert r.returncode == 1
    assert ('events.events.k8s.io is forbidden: User "ev-user" cannot list resource '
            '"events" in API group "events.k8s.io" in the namespace') in r.stderr, r.stderr


def test_kubectl_get_and_events(api: Api, ns: str, kubectl: Kubectl) -> None:
    api.ok("POST", f"{V1}/namespaces/{ns}/events", v1_event("k1", ns), 201)
    out = kubectl("get", "events.events.k8s.io", "-n", ns).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "pod/web-0" in lines[1] and "all good" in lines[1] and "Synced" in lines[1]
    out = kubectl("get", "events.v1.events.k8s.io", "k1", "-n", ns, "-o",
                  "jsonpath={.apiVersion} {.note}").stdout
    assert out == "events.k8s.io/v1 all good"
    out = kubectl("events", "-n", ns, "--for", "pod/web-0").stdout
    assert "Synced" in out and "all good" in out
    out = kubectl("api-resources", "--api-group=events.k8s.io").stdout.splitlines()
    assert out[1].split() == ["events", "ev", "events.k8s.io/v1", "true", "Event"]
