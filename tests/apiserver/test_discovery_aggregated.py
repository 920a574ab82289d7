"""Aggregated discovery (apidiscovery.k8s.io/v2, v2beta1) beside the legacy documents, with
real kubectl: two discovery requests instead of one per group version, and the same
resources either way."""

from __future__ import annotations

import re

import httpx

from testing.apiclient import Api
from testing.kubectl import Kubectl

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_ACCEPT = f"{V2},{V2BETA1},application/json"


def get(server: str, path: str, accept: str, **headers: str) -> httpx.Response:
    return httpx.get(server + path, headers={"Accept": accept, **headers}, timeout=10)


def by_name(items: list[dict], name: str) -> dict:
    return next(i for i in items if i["metadata"]["name"] == name)


def test_apis_aggregated(server_url: str) -> None:
    r = get(server_url, "/apis", KUBECTL_ACCEPT)
    assert r.status_code == 200
    assert r.headers["content-type"] == V2
    assert r.headers["vary"] == "Accept" and r.headers["etag"].startswith('"')
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert all(i["metadata"]["name"] for i in doc["items"])  # no core group here
    apps = by_name(doc["items"], "apps")
    v1 = apps["versions"][0]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    dep = next(x for x in v1["resources"] if x["resource"] == "deployments")
    assert dep["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert dep["scope"] == "Namespaced" and dep["singularResource"] == "deployment"
    assert dep["shortNames"] == ["deploy"] and dep["categories"] == ["all"]
    subs = {s["subresource"]: s for s in dep["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1",
                                             "kind": "Scale"}
    assert "status" in subs
    # preferred version first, as in the legacy group document
    auto = by_name(doc["items"], "autoscaling")
    assert [v["version"] for v in auto["versions"]] == ["v2", "v1"]
    nodes = next(x for x in by_name(doc["items"], "events.k8s.io")["versions"][0]["resources"]
                 if x["resource"] == "events")
    assert nodes["scope"] == "Namespaced"


def test_api_aggregated_and_conditional(server_url: str) -> None:
    r = get(server_url, "/api", V2)
    doc = r.json()
    assert [i["metadata"]["name"] for i in doc["items"]] == [""]
    pods = next(x for x in doc["items"][0]["versions"][0]["resources"]
                if x["resource"] == "pods")
    assert {s["subresource"] for s in pods["subresources"]} >= {"log", "exec", "status",
                                                                "eviction"}
    nodes = next(x for x in doc["items"][0]["versions"][0]["resources"]
                 if x["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"
    again = get(server_url, "/api", V2, **{"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == r.headers["etag"]
    stale = get(server_url, "/api", V2, **{"If-None-Match": '"X"'})
    assert stale.status_code == 200
    beta = get(server_url, "/api", V2BETA1)
    assert beta.headers["content-type"] == V2BETA1
    assert beta.json()["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


def test_legacy_documents_unchanged(server_url: str, api: Api) -> None:
    r = get(server_url, "/apis", "application/json")
    assert r.headers["content-type"] == "application/json"
    assert r.json()["kind"] == "APIGroupList"
    assert api.ok("GET", "/api")["kind"] == "APIVersions"
    for path in ("/api/", "/apis/"):  # with a trailing slash too, as kube-apiserver
        r = httpx.get(server_url + path, timeout=10)
        assert r.status_code == 200 and r.json()["kind"] in ("APIVersions", "APIGroupList")


def discovery_gets(log: str) -> list[str]:
    return sorted(set(re.findall(r'"GET" url="[^"]*?(/apis?(?:/[^?"]*)?)\?', log))
                  | set(re.findall(r"GET \S*?(/apis?(?:/[^? ]*)?)\?", log)))


def test_kubectl_uses_two_discovery_requests(kubectl: Kubectl, api: Api) -> None:
    r = kubectl("api-resources", "-v=6")
    paths = {p for p in discovery_gets(r.stderr)
             if p in ("/api", "/apis") or p.count("/") == 2 or p.startswith("/apis/")}
    assert paths == {"/api", "/apis"}, r.stderr[-3000:]
    # the same resources as the legacy documents list
    listed = {(ln.split()[0], ln.split()[-1]) for ln in r.stdout.splitlines()[1:]}
    want = set()
    for gv in ["v1"]:
        for res in api.ok("GET", f"/api/{gv}")["resources"]:
            if "/" not in res["name"]:
                want.add((res["name"], res["kind"]))
    for g in api.ok("GET", "/apis")["groups"]:
        gv = g["preferredVersion"]["groupVersion"]
        for res in api.ok("GET", f"/apis/{gv}")["resources"]:
            if "/" not in res["name"]:
                want.add((res["name"], res["kind"]))
    assert listed == want
