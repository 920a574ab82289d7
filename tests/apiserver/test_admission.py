"""Admission on the wire: update-only rules (immutable fields), the create-time pod
status, and each validation error reported once with Kubernetes' field path."""

from __future__ import annotations

from typing import Any

import pytest

from testing.apiclient import Api, deployment, pod, replicaset


@pytest.fixture(scope="module")
def ns(api: Api) -> str:
    return api.namespace()


def causes(code: int, body: Any) -> list[dict[str, Any]]:
    assert code == 422, body
    assert body["kind"] == "Status" and body["reason"] == "Invalid", body
    out: list[dict[str, Any]] = body["details"]["causes"]
    return out


MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.mark.parametrize("kind,make,base", [
    ("deployments", deployment, "/apis/apps/v1"),
    ("replicasets", replicaset, "/apis/apps/v1"),
])
def test_selector_is_immutable(api: Api, ns: str, kind: str, make: Any, base: str) -> None:
    url = f"{base}/namespaces/{ns}/{kind}"
    obj = api.ok("POST", url, make("sel"), 201)
    obj["spec"]["selector"] = {"matchLabels": {"app": "sel", "v": "2"}}
    obj["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    cs = causes(*api.call("PUT", f"{url}/sel", obj))
    assert [c["field"] for c in cs] == ["spec.selector"]
    assert "field is immutable" in cs[0]["message"]
    cs = causes(*api.call("PATCH", f"{url}/sel", {"spec": {
        "selector": {"matchLabels": {"v": "2"}},
        "template": {"metadata": {"labels": {"v": "2"}}}}}, content_type=MERGE))
    assert [c["field"] for c in cs] == ["spec.selector"]
    # Other spec changes still go through, and the stored selector is the old one.
    out = api.ok("PATCH", f"{url}/sel", {"spec": {"replicas": 5}}, content_type=MERGE)
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["selector"] == {"matchLabels": {"app": "sel"}}


def test_pod_spec_is_immutable_but_image(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod("imm"), 201)
    # The image may change (kubectl set image), through a strategic patch as kubectl sends.
    out = api.ok("PATCH", f"{url}/imm", {"spec": {"containers": [
        {"name": "c", "image": "nginx:1.26"}]}}, content_type=STRATEGIC)
    assert out["spec"]["containers"][0]["image"] == "nginx:1.26"
    # Anything else in the spec may not.
    cs = causes(*api.call("PATCH", f"{url}/imm", {"spec": {"restartPolicy": "Never"}},
                          content_type=MERGE))
    assert [c["field"] for c in cs] == ["spec"]
    assert cs[0]["reason"] == "FieldValueForbidden"
    assert "spec.restartPolicy" in cs[0]["message"]
    cur = api.ok("GET", f"{url}/imm")
    cur["spec"]["containers"].append({"name": "d", "image": "busybox"})
    cs = causes(*api.call("PUT", f"{url}/imm", cur))
    assert [c["field"] for c in cs] == ["spec.containers"]
    assert api.ok("GET", f"{url}/imm")["spec"]["restartPolicy"] == "Always"


def test_pod_node_name_fixed_once_set(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod("bound"), 201)
    api.ok("POST", f"{url}/bound/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"},
        "target": {"kind": "Node", "name": "node-a"}}, 201)
    cs = causes(*api.call("PATCH", f"{url}/bound", {"spec": {"nodeName": "node-b"}},
                          content_type=MERGE))
    assert "spec.nodeName" in cs[0]["message"]
    assert api.ok("GET", f"{url}/bound")["spec"]["nodeName"] == "node-a"


def test_pod_status_write_does_not_trip_update_rules(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod("stat"), 201)
    out = api.ok("PATCH", f"{url}/stat/status", {"status": {"phase": "Running"}},
                 content_type=MERGE)
    assert out["status"]["phase"] == "Running"


def test_new_pod_is_pending_with_qos_class(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    body = pod("qos-be")
    body["status"] = {"phase": "Running", "podIP": "10.0.0.9"}  # a client cannot invent it
    out = api.ok("POST", url, body, 201)
    assert out["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    guaranteed = pod("qos-g")
    guaranteed["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "500m", "memory": "64Mi"}}
    out = api.ok("POST", url, guaranteed, 201)
    assert out["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    burstable = pod("qos-b")
    burstable["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    out = api.ok("POST", url, burstable, 201)
    assert out["status"]["qosClass"] == "Burstable"
    assert api.ok("GET", f"{url}/qos-b")["status"]["qosClass"] == "Burstable"


def test_bad_label_reported_once_with_kubernetes_path(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    cs = causes(*api.call("POST", url, pod("lab", labels={"app": "bad value!"})))
    assert [c["field"] for c in cs] == ["metadata.labels"]
    assert "bad value!" in cs[0]["message"]
    cs = causes(*api.call("POST", url, pod("lab", labels={"bad key!": "v"})))
    assert [c["field"] for c in cs] == ["metadata.labels"]
    bad = deployment("lab")
    bad["metadata"]["annotations"] = {"bad key!": "v"}
    cs = causes(*api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", bad))
    assert [c["field"] for c in cs] == ["metadata.annotations"]


def test_model_check_memo_still_checks_the_rest() -> None:
    """A pod whose spec the model accepted before is still checked outside the spec."""
    from api import resources
    from apiserver import admission
    from apiserver.errors import ApiError

    good = pod("memo")
    good["metadata"]["namespace"] = "ns"
    admission.default(resources.PODS, good)
    admission.validate(resources.PODS, good)
    admission.validate(resources.PODS, good)  # now with the memoized spec
    bad_status = {**good, "status": {"phase": 5, "conditions": "x"}}
    with pytest.raises(ApiError) as info:
        admission.validate(resources.PODS, bad_status)
    assert info.value.details is not None
    fields = {c["field"] for c in info.value.details["causes"]}
    assert fields == {"status.phase", "status.conditions"}
    bad_meta = {**good, "metadata": {"name": "m", "namespace": "ns", "labels": "x"}}
    with pytest.raises(ApiError) as info:
        admission.validate(resources.PODS, bad_meta)
    assert info.value.details is not None
    assert [c["field"] for c in info.value.details["causes"]] == \
        ["metadata.labels"]


def test_one_memo_remembers_a_spec_only_when_everything_passed() -> None:
    """A pod spec is remembered once the whole pod passed the model and api.validation,
    never when only one of them accepted it."""
    from api import resources, validation
    from apiserver import admission
    from apiserver.errors import ApiError

    def admit(obj: dict[str, Any]) -> bool:
        try:
            admission.validate(resources.PODS, obj)
        except ApiError:
            return False
        return True

    def made(name: str, **spec: Any) -> dict[str, Any]:
        p = pod(name, **spec)
        p["metadata"]["namespace"] = "ns"
        admission.default(resources.PODS, p)
        return p

    def known(p: dict[str, Any]) -> bool:
        return validation.spec_known_valid(validation.memo_key(p["spec"]))

    # The model accepts it, validate_pod_spec does not (a negative grace period).
    model_only = made("m1", terminationGracePeriodSeconds=-5)
    assert not admit(model_only) and not known(model_only)
    assert not admit(model_only)
    # validate_pod_spec accepts it, the model does not (priority is an integer).
    spec_only = made("m2", priority="high")
    assert validation.validate("Pod", spec_only) == []
    assert not admit(spec_only) and not known(spec_only)
    assert not admit(spec_only)
    # A good spec in a bad pod is not remembered either; in a good one it is.
    good = made("m3", priority=7)
    bad_meta = {**good, "metadata": {**good["metadata"], "name": "Bad_Name"}}
    assert not admit(bad_meta) and not known(bad_meta)
    assert admit(good) and known(good)
    assert admit(good)
    assert not admit(bad_meta)


def test_yaml_bodies_are_json_first(api: Api, ns: str) -> None:
    """YAML is converted to the JSON it stands for, as Kubernetes does: a timestamp is
    a string, and what cannot be JSON (NaN) is a 400, never a 500."""
    url = f"/api/v1/namespaces/{ns}/pods"
    doc = (b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: yml\n  annotations:\n"
           b"    since: 2020-01-02\nspec:\n  containers:\n  - name: c\n    image: nginx\n")
    out = api.ok("POST", url, doc, 201, content_type="application/yaml")
    assert out["metadata"]["annotations"] == {"since": "2020-01-02"}
    assert api.ok("GET", f"{url}/yml", resourceVersion="0")["metadata"]["annotations"] == \
        {"since": "2020-01-02"}
    nan = doc.replace(b"name: yml", b"name: ynan").replace(b"spec:\n",
                                                           b"spec:\n  priority: .nan\n")
    code, body = api.call("POST", url, nan, content_type="application/yaml")
    assert code == 400 and body["reason"] == "BadRequest", body
