"""Every bad input gets a Kubernetes Status with the right reason and code; no 500s."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from testing.apiclient import Api, pod


@pytest.fixture(scope="module")
def ns(api: Api) -> str:
    return api.namespace()


def assert_status(code: int, body: object, want_code: int, reason: str) -> dict[str, object]:
    assert isinstance(body, dict), body
    assert code == want_code, body
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == want_code, body
    assert body["reason"] == reason, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_malformed_json(api: Api, ns: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", b'{"metadata": ')
    assert_status(code, body, 400, "BadRequest")
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", b"[1,2]")
    assert_status(code, body, 400, "BadRequest")
    code, body = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/x", b"nope")
    assert_status(code, body, 400, "BadRequest")


def test_invalid_object_names_fields(api: Api, ns: str) -> None:
    bad = pod("Bad_Name")
    bad["spec"]["containers"] = [{"name": "c"}]
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", bad)
    st = assert_status(code, body, 422, "Invalid")
    details = st["details"]
    assert isinstance(details, dict)
    fields = {c["field"] for c in details["causes"]}
    assert "metadata.name" in fields
    assert "spec.containers[0].image" in fields
    assert details["kind"] == "Pod" and details["name"] == "Bad_Name"
    assert str(st["message"]).startswith('Pod "Bad_Name" is invalid: ')


def test_invalid_types(api: Api, ns: str) -> None:
    bad = pod("types")
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", bad)
    st = assert_status(code, body, 422, "Invalid")
    assert any("spec.containers[0].ports[0].containerPort" == c["field"]
               for c in st["details"]["causes"])  # type: ignore[index]
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods",
                          {"metadata": "string", "spec": {}})
    assert_status(code, body, 422, "Invalid")
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", {"spec": {"containers": []}})
    st = assert_status(code, body, 422, "Invalid")


def test_namespace_mismatch(api: Api, ns: str) -> None:
    p = pod("mismatch")
    p["metadata"]["namespace"] = "other"
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", p)
    st = assert_status(code, body, 400, "BadRequest")
    assert "does not match the namespace" in str(st["message"])


def test_name_mismatch_on_put(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("n1"), 201)
    code, body = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/n1", pod("n2"))
    assert_status(code, body, 400, "BadRequest")


def test_kind_mismatch(api: Api, ns: str) -> None:
    p = pod("km")
    p["kind"] = "Deployment"
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", p)
    st = assert_status(code, body, 400, "BadRequest")
    assert st["message"] == ('Deployment in version "v1" cannot be handled as a Pod: '
                             "the object kind does not match the resource")
    # An update is checked the same way.
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("km"), 201)
    code, body = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/km", p)
    st = assert_status(code, body, 400, "BadRequest")
    assert "cannot be handled as a Pod" in str(st["message"])


def test_body_too_large(api: Api, ns: str) -> None:
    p = pod("big")
    p["metadata"]["annotations"] = {"big": "x" * (3 * 1024 * 1024 + 10)}
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", p)
    assert_status(code, body, 413, "RequestEntityTooLarge")


def test_body_too_large_chunked(api: Api, ns: str) -> None:
    def gen() -> Iterator[bytes]:
        yield b'{"metadata": {"name": "x", "annotations": {"a": "'
        for _ in range(40):
            yield b"y" * 100_000
        yield b'"}}}'

    r = api.client.post(f"/api/v1/namespaces/{ns}/pods", content=gen(),
                        headers={"Content-Type": "application/json"})
    assert_status(r.status_code, r.json(), 413, "RequestEntityTooLarge")


def test_unknown_resource_and_paths(api: Api, ns: str) -> None:
    for path in ("/api/v1/widgets", f"/api/v1/namespaces/{ns}/widgets",
                 "/apis/apps/v1/pods", "/apis/nope/v1/things", "/api/v1/pods/x",
                 f"/api/v1/namespaces/{ns}/pods/x/unknownsub", "/totally/unknown",
                 f"/api/v1/namespaces/{ns}/pods/a/b/c/d"):
        code, body = api.call("GET", path)
        assert_status(code, body, 404, "NotFound")


def test_method_not_allowed(api: Api, ns: str) -> None:
    code, body = api.call("PUT", f"/api/v1/namespaces/{ns}/pods", pod("x"))
    assert_status(code, body, 405, "MethodNotAllowed")
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods/x", pod("x"))
    assert_status(code, body, 405, "MethodNotAllowed")
    code, body = api.call("GET", f"/api/v1/namespaces/{ns}/pods/x/binding")
    assert_status(code, body, 405, "MethodNotAllowed")


def test_unsupported_media_type(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("mt"), 201)
    code, body = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/mt", b"{}",
                          content_type="text/csv")
    assert_status(code, body, 415, "UnsupportedMediaType")
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", b"a,b",
                          content_type="text/csv")
    assert_status(code, body, 415, "UnsupportedMediaType")


def test_bad_patches(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("bp"), 201)
    code, body = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/bp", b"{not json",
                          content_type="application/merge-patch+json")
    assert_status(code, body, 400, "BadRequest")
    code, body = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/bp",
                          [{"op": "replace", "path": "/spec/nothere/x", "value": 1}],
                          content_type="application/json-patch+json")
    assert code in (422, 400) and body["kind"] == "Status"
    code, body = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/nope", {"metadata": {}},
                          content_type="application/merge-patch+json")
    assert_status(code, body, 404, "NotFound")
    # A patch that makes the object invalid is rejected and nothing is written.
    before = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/bp")
    code, body = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/bp",
                          {"metadata": {"labels": {"bad key!": "v"}}},
                          content_type="application/merge-patch+json")
    assert_status(code, body, 422, "Invalid")
    after = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/bp")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_bad_query_params(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    for params in ({"labelSelector": "a in (b"}, {"labelSelector": "=x"},
                   {"fieldSelector": "spec.unknownField=x"}, {"limit": "abc"},
                   {"limit": "-1"}, {"resourceVersion": "abc"},
                   {"timeoutSeconds": "x", "watch": "1"},
                   {"watch": "1", "resourceVersion": "-5"}):
        code, body = api.call("GET", base, **params)
        assert_status(code, body, 400, "BadRequest")
    code, body = api.call("DELETE", f"{base}/zz", gracePeriodSeconds="soon")
    assert_status(code, body, 400, "BadRequest")
    code, body = api.call("DELETE", f"{base}/zz", b"{bad")
    assert_status(code, body, 400, "BadRequest")


def test_bad_resource_version_on_update(api: Api, ns: str) -> None:
    p = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("badrv"), 201)
    p["metadata"]["resourceVersion"] = "not-a-number"
    code, body = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/badrv", p)
    assert_status(code, body, 400, "BadRequest")


def test_update_missing_is_not_found(api: Api, ns: str) -> None:
    code, body = api.call("PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/ghost",
                          {"metadata": {"name": "ghost"}, "spec": {}})
    st = assert_status(code, body, 404, "NotFound")
    assert st["message"] == 'deployments.apps "ghost" not found'
    assert st["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_fuzz_no_500(api: Api, ns: str) -> None:
    """A spray of odd inputs: never a 500, always a JSON Status on errors."""
    bodies: list[bytes] = [b"", b"null", b"1", b'"s"', b"{}", b'{"metadata": null}',
                           b'{"metadata": {"name": 5}}', b'{"spec": []}',
                           b'{"metadata": {"name": "z", "labels": [1]}}',
                           b'{"metadata": {"name": "z", "finalizers": "x"}}',
                           b"\xff\xfe\x00", b'{"metadata": {"name": "' + b"a" * 300 + b'"}}']
    paths = [f"/api/v1/namespaces/{ns}/pods", f"/apis/apps/v1/namespaces/{ns}/deployments",
             "/api/v1/nodes", "/api/v1/namespaces",
             f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"]
    for path in paths:
        for b in bodies:
            for method, p in (("POST", path), ("PUT", path + "/z"), ("PATCH", path + "/z")):
                ct = "application/merge-patch+json" if method == "PATCH" else "application/json"
                r = api.client.request(method, p, content=b, headers={"Content-Type": ct})
                assert r.status_code < 500, (method, p, b, r.text)
                if r.status_code >= 400:
                    assert r.json()["kind"] == "Status"


def test_head_and_options(server_url: str, ns: str) -> None:
    r = httpx.request("OPTIONS", f"{server_url}/api/v1/namespaces/{ns}/pods")
    assert r.status_code == 405 and r.json()["reason"] == "MethodNotAllowed"


def test_wrong_shapes_are_422(api: Api, ns: str) -> None:
    for spec in ({"containers": "nginx"}, {"containers": [1]}, {"containers": [{"name": 5}]},
                 {"containers": [{"name": "c", "image": "i", "env": "x"}]},
                 {"containers": [{"name": "c", "image": "i", "ports": [{}]}]},
                 {"containers": [{"name": "c", "image": "i"}], "volumes": "v"}):
        code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods",
                              {"metadata": {"name": "shape"}, "spec": spec})
        assert_status(code, body, 422, "Invalid")
    for spec in ({"selector": "x"}, {"template": []}, {"replicas": "two"}, {}):
        code, body = api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                              {"metadata": {"name": "shape"}, "spec": spec})
        assert_status(code, body, 422, "Invalid")


def test_yaml_bodies(api: Api, ns: str) -> None:
    body = (b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-yaml\n"
            b"spec:\n  containers:\n  - name: c\n    image: nginx\n")
    code, out = api.call("POST", f"/api/v1/namespaces/{ns}/pods", body,
                         content_type="application/yaml")
    assert code == 201 and out["metadata"]["name"] == "from-yaml"
    bomb = b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n'
    code, out = api.call("POST", f"/api/v1/namespaces/{ns}/pods", bomb,
                         content_type="application/yaml")
    assert_status(code, out, 400, "BadRequest")
    code, out = api.call("POST", f"/api/v1/namespaces/{ns}/pods", b"a: [unclosed",
                         content_type="application/yaml")
    assert_status(code, out, 400, "BadRequest")


def test_fuzz_subresources_no_500(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("fz"), 201)
    from testing.apiclient import deployment

    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("fzd"), 201)
    bodies = [b"", b"null", b"[]", b"{}", b'{"target": "x"}', b'{"target": {"name": 5}}',
              b'{"spec": "x"}', b'{"spec": {"replicas": "3"}}', b'{"spec": {"replicas": true}}',
              b'{"status": 5}', b'{"status": {"phase": ["x"]}}', b'{"metadata": []}',
              b'{"spec": {"finalizers": "k"}}', b"\x00\x01"]
    targets = [("POST", f"/api/v1/namespaces/{ns}/pods/fz/binding"),
               ("PUT", f"/api/v1/namespaces/{ns}/pods/fz/status"),
               ("PATCH", f"/api/v1/namespaces/{ns}/pods/fz/status"),
               ("PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/fzd/scale"),
               ("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/fzd/scale"),
               ("PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/fzd/status"),
               ("PUT", f"/api/v1/namespaces/{ns}/finalize"),
               ("DELETE", f"/api/v1/namespaces/{ns}/pods/fz")]
    for method, path in targets:
        for b in bodies:
            ct = "application/merge-patch+json" if method == "PATCH" else "application/json"
            r = api.client.request(method, path, content=b, headers={"Content-Type": ct},
                                   params={"dryRun": "All"})
            assert r.status_code < 500, (method, path, b, r.text)
            if r.status_code >= 400:
                assert r.json()["kind"] == "Status"
    for params in ({"watch": "1", "timeoutSeconds": "-1"}, {"limit": "99999999999999999999"},
                   {"continue": "%%%"}, {"resourceVersion": "999999999999", "limit": "1"},
                   {"fieldSelector": "metadata.name"}, {"labelSelector": "a,,b"},
                   {"resourceVersionMatch": "Exact", "resourceVersion": "0"}):
        r = api.client.get(f"/api/v1/namespaces/{ns}/pods", params=params, timeout=10)
        assert r.status_code < 500, (params, r.text)


def test_future_resource_versions(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    code, st = api.call("GET", base, resourceVersion="999999999", resourceVersionMatch="Exact")
    assert_status(code, st, 504, "Timeout")
    assert "Too large resource version" in st["message"]


def _mutations(obj: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _mutations(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _mutations(v, (*path, i))
    return out


def test_random_field_types_never_500(api: Api, ns: str) -> None:
    import copy
    import random

    from testing.apiclient import deployment

    rng = random.Random(1234)
    junk: list[object] = [None, 0, -1, 2**70, 1.5, True, "", "x" * 300, "Bad Value!", [],
                          [1, "a"], {}, {"a": {"b": []}}]
    seeds = [(f"/api/v1/namespaces/{ns}/pods", pod("rnd")),
             (f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("rnd"))]
    for base, seed in seeds:
        api.ok("POST", base, seed, 201)
        current = api.ok("GET", f"{base}/rnd")
        paths = [p for p in _mutations(current) if p]
        for _ in range(120):
            body = copy.deepcopy(current)
            p = rng.choice(paths)
            target = body
            for k in p[:-1]:
                target = target[k]  # type: ignore[index]
            target[p[-1]] = rng.choice(junk)  # type: ignore[index]
            for method, url in (("POST", base), ("PUT", f"{base}/rnd")):
                r = api.client.request(method, url, json=body, params={"dryRun": "All"})
                assert r.status_code < 500, (method, p, target, r.text)
            patch = {str(p[0]): body.get(p[0])} if isinstance(p[0], str) else {}
            r = api.client.patch(f"{base}/rnd", json=patch, params={"dryRun": "All"},
                                 headers={"Content-Type": "application/merge-patch+json"})
            assert r.status_code < 500, ("PATCH", p, r.text)


def test_malformed_patch_directives_are_client_errors(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("dirs"), 201)
    for body in ({"metadata": {"$retainKeys": [{"a": 1}]}},
                 {"$retainKeys": [[1]], "spec": {}},
                 {"spec": {"$setElementOrder/containers": {"x": 1}}},
                 {"spec": {"containers": [{"$patch": "delete"}]}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": {"a": "b"}}}):
        for ct in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            code, out = api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/dirs", body,
                                 content_type=ct)
            assert 400 <= code < 500 or code == 200, (body, ct, code, out)
            assert isinstance(out, dict) and out.get("kind") in ("Status", "Pod")
