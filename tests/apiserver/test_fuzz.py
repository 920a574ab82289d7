"""A bounded property-based fuzz of the API server over the paths its /openapi/v3 documents.

Hypothesis draws requests (method, path with namespace and name filled in, query
parameters, content type and body: well-formed objects, mutated ones, nested, odd JSON,
YAML and raw bytes) against a private server, and checks for every answer:

- no 5xx while etcd is up; with etcd stopped, only 503 or 504;
- every error body is a Status (kind, apiVersion, status Failure, code = HTTP status);
- nothing half-written: a refused create of a new name leaves no object behind.

Bounded for CI (max_examples, no per-example deadline, a time budget per phase).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testing.support import ApiServer, Etcd, wait_for

GROUP_VERSIONS = ("api/v1", "apis/apps/v1", "apis/batch/v1", "apis/rbac.authorization.k8s.io/v1",
                  "apis/coordination.k8s.io/v1", "apis/policy/v1")
NAMES = ("fz-a", "fz-b", "fz-c")
BUDGET_S = 25.0  # per phase, on top of hypothesis' own max_examples


class Target:
    def __init__(self) -> None:
        self.etcd = Etcd().start()
        self.server = ApiServer(self.etcd.url).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=20)
        self.ns = "fuzz"
        self.http.post("/api/v1/namespaces", json={"metadata": {"name": self.ns}})
        self.paths: list[tuple[str, str]] = []  # (method, path template)
        for gv in GROUP_VERSIONS:
            doc = self.http.get(f"/openapi/v3/{gv}").json()
            for path, item in doc["paths"].items():
                if "{path}" in path or "/proxy" in path or path.endswith(("/exec", "/attach",
                                                                          "/portforward", "/log")):
                    continue
                for method in item:
                    if method in ("get", "post", "put", "patch", "delete"):
                        self.paths.append((method.upper(), path))
        self.paths.sort()
        self.etcd_up = True
        self.deadline = 0.0

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        if self.etcd.proc is not None and self.etcd.proc.poll() is None:
            self.etcd.stop()


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    t = Target()
    try:
        yield t
    finally:
        t.close()


def _object(kind_hint: str, name: str) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=20))
    values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(
        st.sampled_from(["spec", "metadata", "name", "containers", "image", "labels", "data",
                         "replicas", "selector", "template", "x", "$patch", "status",
                         "resourceVersion", "apiVersion", "kind"]) | st.text(max_size=8),
        c, max_size=4), max_leaves=12)
    meta = st.fixed_dictionaries({"name": st.just(name)}, optional={
        "labels": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2),
        "resourceVersion": st.sampled_from(["", "0", "1", "abc", str(2**63), "-1"]),
        "namespace": st.sampled_from(["fuzz", "other", ""]),
        "finalizers": st.lists(st.text(max_size=10), max_size=2)})
    return st.fixed_dictionaries({"metadata": meta}, optional={
        "apiVersion": st.sampled_from(["v1", "apps/v1", "batch/v1", "nope/v9", ""]),
        "kind": st.sampled_from([kind_hint, "Pod", "ConfigMap", "Nope", ""]),
        "spec": values, "data": values, "status": values, "x": values})


def _deep(n: int) -> bytes:
    return ("[" * n + "]" * n).encode()


def _nested(n: int) -> bytes:
    return b'{"metadata":{"name":"fz-a"},"x":' + _deep(n) + b"}"


# Inputs that broke the server once, drawn often so that a bounded run meets them.
EDGE_PARAMS = ({"resourceVersion": str(2**63), "resourceVersionMatch": "Exact"},
               {"resourceVersion": "9" * 30}, {"limit": "9" * 25},
               {"continue": "eyJydiI6OTk5OTk5OTk5OTk5OTk5OTk5OTk5LCJzdGFydCI6IiJ9"},
               {"gracePeriodSeconds": "9" * 25}, {"labelSelector": "a in ("})
EDGE_BODIES = (
    ("application/json", _nested(1000)), ("application/merge-patch+json", _nested(1000)),
    ("application/strategic-merge-patch+json", _nested(1000)),
    ("application/apply-patch+yaml", b"a: &a [*a]"), ("application/apply-patch+yaml",
                                                      b"{" * 3000),
    ("application/yaml", b"a: &a [*a]"), ("application/json", _deep(5000)),
    ("application/vnd.kubernetes.protobuf", b"k8s\x00\x0a\x02v1\x12\x03Pod"),
    ("application/json", b'{"metadata":{"name":"fz-a","resourceVersion":"' + str(2**64).encode()
     + b'"}}'))


@st.composite
def requests(draw: st.DrawFn, target: Target) -> dict[str, Any]:
    method, template = draw(st.sampled_from(target.paths))
    name = draw(st.sampled_from(NAMES))
    path = template.replace("{namespace}", target.ns).replace("{name}", name)
    edge = draw(st.integers(0, 2)) == 0
    params: dict[str, str] = draw(st.sampled_from(EDGE_PARAMS)) if edge else draw(
        st.dictionaries(st.sampled_from([
        "resourceVersion", "resourceVersionMatch", "limit", "continue", "labelSelector",
        "fieldSelector", "dryRun", "fieldManager", "fieldValidation", "force",
        "gracePeriodSeconds", "propagationPolicy", "pretty"]), st.one_of(
        st.sampled_from(["", "0", "1", "-1", "Exact", "NotOlderThan", "All", "true",
                         str(2**63), "9" * 30, "a=b", "a in (b)", "metadata.name=fz-a",
                         "!!", "Strict", "Warn", "Orphan"]),
        st.text(max_size=12)), max_size=4))
    ctype = draw(st.sampled_from([
        "application/json", "application/yaml", "application/merge-patch+json",
        "application/strategic-merge-patch+json", "application/json-patch+json",
        "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf", "text/plain",
        "application/cbor"]))
    kind = template.split("/")[-2 if "{name}" in template else -1].rstrip("s").capitalize()
    body: bytes | None = None
    if edge and method in ("POST", "PUT", "PATCH"):
        ctype, body = draw(st.sampled_from(EDGE_BODIES))
    elif method in ("POST", "PUT", "PATCH", "DELETE"):
        choice = draw(st.integers(0, 5))
        if choice <= 2:
            body = json.dumps(draw(_object(kind, name))).encode()
        elif choice == 3:
            body = draw(st.sampled_from([
                _deep(300), _deep(5000), b"a: &a [*a]", b"{" * 3000, b"null", b"[]",
                b'[{"op":"add","path":"/x","value":1}]', b'{"a":1,"a":2}', b"\xff\xfe",
                b"k8s\x00\x0a\x02v1\x12\x03Pod"]))
        elif choice == 4:
            body = draw(st.binary(max_size=64))
    return {"method": method, "path": path, "params": params, "ctype": ctype, "body": body,
            "name": name}


def _check(t: Target, req: dict[str, Any]) -> None:
    if time.monotonic() > t.deadline:
        return  # the phase's time budget is spent: the remaining examples pass
    item = f"{req['path'].rstrip('/')}/{req['name']}"
    collection_post = req["method"] == "POST" and not any(req["path"].endswith(s) for s in (
        "/binding", "/eviction", "/token", "/status", "/scale", "/ephemeralcontainers"))
    existed = t.http.get(item).status_code == 200 if collection_post else None
    headers = {"Content-Type": req["ctype"]} if req["body"] is not None else {}
    r = t.http.request(req["method"], req["path"], params=req["params"],
                       content=req["body"], headers=headers)
    code = r.status_code
    if t.etcd_up:
        assert code < 500, (req, code, r.text[:300])
    else:
        assert code < 500 or code in (503, 504), (req, code, r.text[:300])
    if code >= 400:
        st_ = r.json()
        assert st_["kind"] == "Status" and st_["apiVersion"] == "v1", st_
        assert st_["status"] == "Failure" and st_["code"] == code, st_
        assert r.headers.get("cache-control") == "no-cache, private"
        assert r.headers.get("audit-id")
    if collection_post and existed is False and code >= 400 and t.etcd_up:
        # A refused create leaves nothing under the name it was given.
        assert t.http.get(item).status_code == 404, (req, code)


@pytest.mark.timeout(180)
def test_fuzz_with_etcd_up(target: Target) -> None:
    target.deadline = time.monotonic() + BUDGET_S

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests(target))
    def run(req: dict[str, Any]) -> None:
        _check(target, req)

    run()


@pytest.mark.timeout(180)
def test_fuzz_with_etcd_stopped(target: Target) -> None:
    assert target.etcd.proc is not None
    target.etcd.stop(signal.SIGKILL)
    target.etcd_up = False
    wait_for(lambda: target.http.get("/readyz").status_code == 500, timeout=10)
    target.deadline = time.monotonic() + BUDGET_S / 2

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests(target))
    def run(req: dict[str, Any]) -> None:
        _check(target, req)

    run()
