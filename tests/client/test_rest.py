"""REST client and watch decoding against httpx.MockTransport (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from api.models import Container, Deployment, Node, ObjectMeta, Pod, PodSpec, Scale
from client import errors
from client.config import load_config, resolve_server
from client.rest import AsyncClient, Client, RetryPolicy

FAST = RetryPolicy(retries=3, base=0.001, cap=0.002)


def pod_dict(name: str, ns: str = "default", rv: str = "5", node: str | None = None
             ) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "uid": "u-" + name},
            "spec": spec}


def status(code: int, reason: str, message: str = "nope") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
            "reason": reason, "message": message}


class Recorder:
    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)  # type: ignore[no-any-return]


def mk_async(handler: Any) -> tuple[AsyncClient, Recorder]:
    rec = Recorder(handler)
    return AsyncClient("http://api.test", transport=httpx.MockTransport(rec), retry=FAST), rec


def mk_sync(handler: Any) -> tuple[Client, Recorder]:
    rec = Recorder(handler)
    return Client("http://api.test", transport=httpx.MockTransport(rec), retry=FAST), rec


async def test_get_builds_path_and_decodes() -> None:
    c, rec = mk_async(lambda r: httpx.Response(200, json=pod_dict("p1", "ns1")))
    pod = await c.get(Pod, "p1", "ns1")
    assert isinstance(pod, Pod) and pod.metadata.name == "p1" and pod.spec.containers[0].image == "nginx"
    assert rec.requests[0].url.path == "/api/v1/namespaces/ns1/pods/p1"
    assert rec.requests[0].headers["accept"] == "application/json"
    await c.close()


async def test_cluster_scoped_and_group_paths() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.path.startswith("/api/v1/nodes"):
            return httpx.Response(200, json={"kind": "Node", "apiVersion": "v1",
                                             "metadata": {"name": "n1"}})
        return httpx.Response(200, json={"kind": "Scale", "apiVersion": "autoscaling/v1",
                                         "metadata": {"name": "d"}, "spec": {"replicas": 3}})
    c, rec = mk_async(handler)
    node = await c.get(Node, "n1", "ignored")
    assert node.metadata.name == "n1"
    sc = await c.patch_scale(Deployment, "d", 3, "ns")
    assert isinstance(sc, Scale) and sc.spec.replicas == 3
    assert [r.url.path for r in rec.requests] == [
        "/api/v1/nodes/n1", "/apis/apps/v1/namespaces/ns/deployments/d/scale"]
    assert rec.requests[1].headers["content-type"] == "application/merge-patch+json"
    assert json.loads(rec.requests[1].content) == {"spec": {"replicas": 3}}
    await c.close()


@pytest.mark.parametrize(("code", "reason", "exc"), [
    (404, "NotFound", errors.NotFound),
    (409, "AlreadyExists", errors.AlreadyExists),
    (409, "Conflict", errors.Conflict),
    (422, "Invalid", errors.Invalid),
    (400, "BadRequest", errors.BadRequest),
    (403, "Forbidden", errors.Forbidden),
    (410, "Expired", errors.Gone),
    (405, "MethodNotAllowed", errors.MethodNotAllowed),
    (413, "RequestEntityTooLarge", errors.TooLarge),
    (415, "UnsupportedMediaType", errors.UnsupportedMediaType),
    (500, "InternalError", errors.ServerError),
])
async def test_status_maps_to_typed_exception(code: int, reason: str,
                                              exc: type[errors.ApiError]) -> None:
    body = status(code, reason)
    if reason == "Invalid":
        body["details"] = {"causes": [{"reason": "FieldValueRequired", "field": "spec.containers",
                                       "message": "Required value"}]}
    c, _ = mk_async(lambda r: httpx.Response(code, json=body))
    with pytest.raises(exc) as info:
        await c.get(Pod, "x")
    assert info.value.code == code and info.value.reason == reason
    assert info.value.message == "nope" and info.value.status.kind == "Status"
    if reason == "Invalid":
        assert info.value.causes == [("FieldValueRequired", "Required value", "spec.containers")]
    await c.close()
    s, _ = mk_sync(lambda r: httpx.Response(code, json=body))
    with pytest.raises(exc):
        s.get(Pod, "x")


def test_non_status_error_body_still_typed() -> None:
    s, _ = mk_sync(lambda r: httpx.Response(404, text="404 page not found"))
    with pytest.raises(errors.NotFound) as info:
        s.get(Pod, "x")
    assert "page not found" in info.value.message
    assert not issubclass(errors.AlreadyExists, errors.Conflict)


async def test_create_uses_namespace_from_object_and_is_not_retried() -> None:
    calls = 0

    def handler(r: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if r.method == "POST":
            raise httpx.ReadError("connection reset after send")
        return httpx.Response(200, json=pod_dict("p"))
    c, rec = mk_async(handler)
    pod = Pod(metadata=ObjectMeta(name="p", namespace="team"),
              spec=PodSpec(containers=[Container(name="c", image="nginx")]))
    with pytest.raises(errors.ServerUnavailable):
        await c.create(pod)
    assert calls == 1, "a POST whose answer was lost must not be re-sent"
    assert rec.requests[0].url.path == "/api/v1/namespaces/team/pods"
    body = json.loads(rec.requests[0].content)
    assert body["metadata"]["namespace"] == "team" and body["kind"] == "Pod"
    await c.close()


async def test_post_retried_when_never_sent_and_get_retried_on_read_error() -> None:
    calls: dict[str, int] = {"POST": 0, "GET": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        calls[r.method] += 1
        if calls[r.method] < 3:
            if r.method == "POST":
                raise httpx.ConnectError("refused")
            raise httpx.ReadError("reset")
        return httpx.Response(201 if r.method == "POST" else 200, json=pod_dict("p"))
    c, _ = mk_async(handler)
    await c.create(Pod.from_dict(pod_dict("p")))
    await c.get(Pod, "p")
    assert calls == {"POST": 3, "GET": 3}
    await c.close()


def test_retries_are_bounded_and_503_is_retried_for_get() -> None:
    calls = 0

    def handler(r: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json=status(503, "ServiceUnavailable"))
    s, _ = mk_sync(handler)
    with pytest.raises(errors.ServerError):
        s.get(Pod, "p")
    assert calls == FAST.retries + 1


def test_list_params_and_list_all_follows_continue() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        cont = r.url.params.get("continue")
        items = [pod_dict("a"), pod_dict("b")] if not cont else [pod_dict("c")]
        meta = {"resourceVersion": "42"} | ({} if cont else {"continue": "tok"})
        return httpx.Response(200, json={"kind": "PodList", "apiVersion": "v1",
                                         "metadata": meta, "items": items})
    s, rec = mk_sync(handler)
    res = s.list(Pod, "ns", label_selector="app=x", field_selector="spec.nodeName=n", limit=2)
    assert [p.metadata.name for p in res.items] == ["a", "b"]
    assert res.resource_version == "42" and res.continue_ == "tok"
    q = rec.requests[0].url.params
    assert (q["labelSelector"], q["fieldSelector"], q["limit"]) == ("app=x", "spec.nodeName=n", "2")
    allres = s.list_all(Pod, None)
    assert [p.metadata.name for p in allres.items] == ["a", "b", "c"]
    assert rec.requests[1].url.path == "/api/v1/pods"
    assert rec.requests[2].url.params["continue"] == "tok"


def test_delete_options_and_return_values() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.path.endswith("/gone"):
            return httpx.Response(200, json={"kind": "Status", "apiVersion": "v1",
                                             "status": "Success"})
        d = pod_dict("p")
        d["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return httpx.Response(202, json=d)
    s, rec = mk_sync(handler)
    obj = s.delete(Pod, "p", "ns", propagation_policy="Foreground", grace_period_seconds=0,
                   preconditions_uid="u1", preconditions_rv="7")
    assert obj is not None and obj.metadata.deletion_timestamp
    assert json.loads(rec.requests[0].content) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0, "preconditions": {"uid": "u1", "resourceVersion": "7"}}
    assert s.delete(Pod, "gone", "ns") is None
    assert rec.requests[1].content == b""


def test_update_status_patch_types_and_bind() -> None:
    s, rec = mk_sync(lambda r: httpx.Response(201 if r.method == "POST" else 200,
                                              json=pod_dict("p")))
    p = Pod.from_dict(pod_dict("p", "ns"))
    s.update(p)
    s.update_status(p)
    s.patch(Pod, "p", [{"op": "add", "path": "/metadata/labels", "value": {}}], "ns",
            patch_type="json")
    s.patch(Pod, "p", {"metadata": {"labels": {"a": "b"}}}, "ns", patch_type="strategic",
            subresource="status")
    s.bind("p", "ns", "node-1")
    got = [(r.method, r.url.path, r.headers.get("content-type")) for r in rec.requests]
    assert got == [
        ("PUT", "/api/v1/namespaces/ns/pods/p", "application/json"),
        ("PUT", "/api/v1/namespaces/ns/pods/p/status", "application/json"),
        ("PATCH", "/api/v1/namespaces/ns/pods/p", "application/json-patch+json"),
        ("PATCH", "/api/v1/namespaces/ns/pods/p/status", "application/strategic-merge-patch+json"),
        ("POST", "/api/v1/namespaces/ns/pods/p/binding", "application/json"),
    ]
    binding = json.loads(rec.requests[-1].content)
    assert binding["kind"] == "Binding" and binding["target"] == {
        "apiVersion": "v1", "kind": "Node", "name": "node-1"}


def test_raw_request_and_logs_text() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.path.endswith("/log"):
            return httpx.Response(200, text='{"json": "log line"}\n',
                                  headers={"content-type": "text/plain"})
        return httpx.Response(200, json={"kind": "APIVersions", "versions": ["v1"]})
    s, rec = mk_sync(handler)
    assert s.request("GET", "/api", params={"x": 1})["versions"] == ["v1"]
    assert s.pod_logs("p", "ns", tail_lines=5, container="c") == '{"json": "log line"}\n'
    q = rec.requests[1].url.params
    assert (q["tailLines"], q["container"]) == ("5", "c") and "follow" not in q


def watch_stream(events: list[dict[str, Any]], split: int = 7) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


async def test_watch_decodes_events_bookmarks_across_chunks() -> None:
    body = watch_stream([
        {"type": "ADDED", "object": pod_dict("a", rv="10")},
        {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": "11"}}},
        {"type": "MODIFIED", "object": pod_dict("a", rv="12")},
        {"type": "DELETED", "object": pod_dict("a", rv="13")},
    ])

    class Chunked(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for i in range(0, len(body), 7):  # lines arrive split at odd places
                yield body[i:i + 7]

    def handler(r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunked())
    c, rec = mk_async(handler)
    evs = [e async for e in c.watch(Pod, "ns", resource_version="9", timeout_seconds=60)]
    assert [(e.type, e.object.metadata.resource_version) for e in evs] == [
        ("ADDED", "10"), ("BOOKMARK", "11"), ("MODIFIED", "12"), ("DELETED", "13")]
    assert isinstance(evs[0].object, Pod) and evs[0].raw["metadata"]["name"] == "a"
    q = rec.requests[0].url.params
    assert (q["watch"], q["resourceVersion"], q["allowWatchBookmarks"], q["timeoutSeconds"]) == (
        "true", "9", "true", "60")
    await c.close()


async def test_watch_410_error_event_raises_gone() -> None:
    body = watch_stream([
        {"type": "ADDED", "object": pod_dict("a", rv="10")},
        {"type": "ERROR", "object": status(410, "Expired", "too old resource version")},
    ])
    c, _ = mk_async(lambda r: httpx.Response(200, content=body))
    seen = []
    with pytest.raises(errors.Gone) as info:
        async for e in c.watch(Pod):
            seen.append(e.type)
    assert seen == ["ADDED"] and "too old" in info.value.message
    await c.close()
    # a 410 answer to the watch request itself
    s, _ = mk_sync(lambda r: httpx.Response(410, json=status(410, "Expired")))
    with pytest.raises(errors.Gone):
        list(s.watch(Pod, resource_version="1"))


def test_config_resolution(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config"
    monkeypatch.setenv("MINIK8S_CONFIG", str(cfg))
    monkeypatch.delenv("MINIK8S_SERVER", raising=False)
    monkeypatch.delenv("MINIK8S_TOKEN", raising=False)
    assert resolve_server() == "http://127.0.0.1:8080"
    cfg.write_text("server: http://file:1\ntoken: abc\n")
    assert load_config().token == "abc" and resolve_server() == "http://file:1"
    cfg.write_text(json.dumps({"server": "http://json:2"}))
    assert resolve_server() == "http://json:2"
    monkeypatch.setenv("MINIK8S_SERVER", "http://env:3")
    assert resolve_server() == "http://env:3"
    assert resolve_server("flag:4") == "http://flag:4"
    monkeypatch.delenv("MINIK8S_SERVER")
    cfg.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                   "clusters: [{name: k, cluster: {server: 'http://kube:5'}}]\n"
                   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                   "users: [{name: u, user: {token: t0k}}]\n")
    assert load_config() .server == "http://kube:5" and load_config().token == "t0k"


def test_token_sent_as_bearer() -> None:
    rec = Recorder(lambda r: httpx.Response(200, json=pod_dict("p")))
    s = Client("http://api.test", transport=httpx.MockTransport(rec), token="sekret")
    s.get(Pod, "p")
    assert rec.requests[0].headers["authorization"] == "Bearer sekret"


async def test_async_pod_logs_stream_in_chunks() -> None:
    text = "héllo\nwörld\n".encode()

    class Chunked(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for i in range(len(text)):  # split inside multi-byte characters
                yield text[i:i + 1]

    c, rec = mk_async(lambda r: httpx.Response(200, stream=Chunked(),
                                               headers={"content-type": "text/plain"}))
    chunks = [ch async for ch in c.pod_logs("p", "ns", follow=True, timestamps=True)]
    assert "".join(chunks) == "héllo\nwörld\n"
    q = rec.requests[0].url.params
    assert (q["follow"], q["timestamps"]) == ("true", "true")
    assert rec.requests[0].url.path == "/api/v1/namespaces/ns/pods/p/log"
    await c.close()
    c, _ = mk_async(lambda r: httpx.Response(404, json=status(404, "NotFound")))
    with pytest.raises(errors.NotFound):
        async for _ in c.pod_logs("p", "ns"):
            pass
    await c.close()
