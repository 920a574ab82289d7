"""Server-side apply with field ownership, managedFields, and fieldValidation, through
real kubectl and the official client against the real API server.

The expected fieldsV1 documents are what kube-apiserver records for the same requests
(Kubernetes' server-side apply documentation and the fieldmanager tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.kubectl import Kubectl
from testing.support import json_request

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web{extra_label}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: {image}
        ports:
        - containerPort: 80
"""

# What kube-apiserver records for `kubectl apply --server-side` of DEPLOYMENT.
APPLIED_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                    ".": {}, "f:containerPort": {}}}}}},
        },
    },
}


def manifest(tmp_path: Path, replicas: int = 2, image: str = "nginx:1.25",
             extra_label: str = "", name: str = "dep.yaml") -> str:
    path = tmp_path / name
    extra = f"\n    {extra_label}" if extra_label else ""
    path.write_text(DEPLOYMENT.format(replicas=replicas, image=image, extra_label=extra))
    return str(path)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


def get(server_url: str, ns: str, name: str = "web") -> dict[str, Any]:
    code, obj = json_request("GET", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/"
                                    f"{name}")
    assert code == 200, obj
    return obj


def test_kubectl_server_side_apply_owns_fields(kubectl: Kubectl, server_url: str, ns: str,
                                                tmp_path: Path) -> None:
    out = kubectl("apply", "--server-side", "-f", manifest(tmp_path, extra_label="tier: a"),
                  "-n", ns).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    obj = get(server_url, ns)
    [entry] = obj["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType",
                           "fieldsV1"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"
    want = json.loads(json.dumps(APPLIED_FIELDS))
    want["f:metadata"]["f:labels"]["f:tier"] = {}
    assert entry["fieldsV1"] == want

    # kubectl hides managedFields unless asked.
    assert "managedFields" not in kubectl("get", "deploy", "web", "-n", ns, "-o", "yaml").stdout
    shown = kubectl("get", "deploy", "web", "-n", ns, "-o", "yaml",
                    "--show-managed-fields").stdout
    assert "manager: kubectl" in shown and "operation: Apply" in shown and "f:replicas: {}" \
        in shown

    # Re-applying without the label removes it (nobody else owns it); the image changes.
    kubectl("apply", "--server-side", "-f", manifest(tmp_path, image="nginx:1.26"), "-n", ns)
    obj = get(server_url, ns)
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert entries(obj)[("kubectl", "Apply")]["fieldsV1"] == APPLIED_FIELDS


def test_conflicts_between_managers_and_force(kubectl: Kubectl, server_url: str, ns: str,
                                              tmp_path: Path) -> None:
    kubectl("apply", "--server-side", "-f", manifest(tmp_path), "-n", ns)
    other = manifest(tmp_path, replicas=5, name="other.yaml")
    proc = kubectl("apply", "--server-side", "--field-manager=scaler", "-f", other, "-n", ns,
                   check=False)
    assert proc.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' \
        in proc.stderr
    assert get(server_url, ns)["spec"]["replicas"] == 2

    # The raw Status: 409 Conflict with a FieldManagerConflict cause per field.
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 7}}
    code, status = json_request(
        "PATCH", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/web"
                 f"?fieldManager=scaler", body, content_type="application/apply-patch+yaml")
    assert code == 409, status
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "kubectl": '
                                 '.spec.replicas')
    assert status["details"]["causes"] == [{"type": "FieldManagerConflict",
                                            "message": 'conflict with "kubectl"',
                                            "field": ".spec.replicas"}]

    kubectl("apply", "--server-side", "--field-manager=scaler", "--force-conflicts", "-f",
            other, "-n", ns)
    obj = get(server_url, ns)
    assert obj["spec"]["replicas"] == 5
    mine = entries(obj)
    assert "f:replicas" not in mine[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" in mine[("scaler", "Apply")]["fieldsV1"]["f:spec"]

    # An Update manager (kubectl edit/patch) that changes an applied field takes it; the
    # next apply conflicts with it, named with its apiVersion.
    code, _ = json_request("PATCH", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/"
                                    f"web?fieldManager=patcher",
                           {"spec": {"template": {"spec": {"containers": [
                               {"name": "nginx", "image": "nginx:1.27"}]}}}},
                           content_type="application/strategic-merge-patch+json")
    assert code == 200
    proc = kubectl("apply", "--server-side", "-f", manifest(tmp_path, replicas=5), "-n", ns,
                   check=False)
    assert proc.returncode == 1
    assert ('conflict with "patcher" using apps/v1: '
            '.spec.template.spec.containers[name="nginx"].image') in proc.stderr


def test_managed_fields_of_create_update_and_patch(kubectl: Kubectl, server_url: str,
                                                   ns: str, tmp_path: Path) -> None:
    kubectl("create", "-f", manifest(tmp_path), "-n", ns)
    obj = get(server_url, ns)
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("kubectl-create", "Update")
    fields = entry["fieldsV1"]
    # A create owns what it sent and what defaulting filled in; maps it created carry ".".
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    spec = fields["f:spec"]
    assert {"f:replicas", "f:selector", "f:progressDeadlineSeconds", "f:revisionHistoryLimit",
            "f:strategy", "f:template"} <= set(spec)
    assert spec["f:strategy"] == {"f:rollingUpdate": {".": {}, "f:maxSurge": {},
                                                      "f:maxUnavailable": {}},
                                  "f:type": {}}
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert {".", "f:image", "f:name", "f:imagePullPolicy", "f:ports",
            "f:terminationMessagePath"} <= set(container)
    assert "f:status" not in fields

    # A merge patch by another manager takes the field it changes from the creator.
    code, _ = json_request("PATCH", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/"
                                    f"web?fieldManager=tuner", {"spec": {"replicas": 3}},
                           content_type="application/merge-patch+json")
    assert code == 200
    obj = get(server_url, ns)
    by = entries(obj)
    assert by[("tuner", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in by[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]

    # A PUT without managedFields keeps them; the manager defaults to the User-Agent's
    # product ("kubectl-replace"... here: python-httpx's "python-httpx").
    obj["metadata"].pop("managedFields")
    obj["metadata"]["labels"]["extra"] = "1"
    code, _ = json_request("PUT", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/web",
                           obj)
    assert code == 200
    by = entries(get(server_url, ns))
    assert ("tuner", "Update") in by and ("kubectl-create", "Update") in by
    agent = [k for k in by if k not in (("tuner", "Update"), ("kubectl-create", "Update"))]
    assert len(agent) == 1
    assert by[agent[0]]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:extra": {}}}}

    # managedFields: [] resets them (then the write's own fields are recorded alone).
    obj = get(server_url, ns)
    obj["metadata"]["managedFields"] = []
    code, reset = json_request(
        "PUT", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/web?fieldManager=x",
        obj)
    assert code == 200
    assert "managedFields" not in reset["metadata"]


def test_kubectl_strict_field_validation(kubectl: Kubectl, server_url: str, ns: str,
                                         tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text(DEPLOYMENT.format(replicas=2, image="nginx", extra_label="")
                    .replace("  replicas:", "  replica:"))
    proc = kubectl("apply", "-f", str(typo), "-n", ns, check=False)
    assert proc.returncode == 1
    assert ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
            'error: unknown field "spec.replica"') in proc.stderr
    proc = kubectl("create", "-f", str(typo), "-n", ns, "--validate=warn")
    assert 'Warning: unknown field "spec.replica"' in proc.stderr
    kubectl("delete", "deploy", "web", "-n", ns)
    proc = kubectl("create", "-f", str(typo), "-n", ns, "--validate=false")
    assert "unknown field" not in proc.stderr
    # Server-side apply refuses fields the kind does not declare.
    proc = kubectl("apply", "--server-side", "-f", str(typo), "-n", ns, check=False)
    assert proc.returncode == 1
    assert ".spec.replica: field not declared in schema" in proc.stderr
    # Everything valid passes strict validation (kubectl's default) untouched.
    kubectl("apply", "-f", manifest(tmp_path, name="ok.yaml"), "-n", ns)


def test_duplicate_and_unknown_fields_over_http(server_url: str, ns: str) -> None:
    url = f"{server_url}/api/v1/namespaces/{ns}/configmaps"
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},' \
           b'"data":{"a":"1"},"data":{"b":"2"},"bogus":1}'
    code, status = json_request("POST", url + "?fieldValidation=Strict", body)
    assert code == 400, status
    assert status["reason"] == "BadRequest"
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                 'strict decoding error: unknown field "bogus", '
                                 'duplicate field "data"')
    code, status = json_request("POST", url + "?fieldValidation=Nope", body)
    assert code == 400
    code, obj = json_request("POST", url + "?fieldValidation=Ignore", body)
    assert code == 201, obj


@pytest.mark.parametrize("force", [False, True])
def test_official_client_apply_patch(server_url: str, ns: str, force: bool) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    cfg = kubernetes.client.Configuration()
    cfg.host = server_url
    with kubernetes.client.ApiClient(cfg) as c:
        core = kubernetes.client.CoreV1Api(c)
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
              "data": {"a": "1"}}
        got = core.patch_namespaced_config_map(
            "applied", ns, cm, field_manager="py", force=force,
            _content_type="application/apply-patch+yaml")
        assert got.data == {"a": "1"}
        [mf] = got.metadata.managed_fields
        assert (mf.manager, mf.operation, mf.fields_type) == ("py", "Apply", "FieldsV1")
        assert mf.fields_v1 == {"f:data": {"f:a": {}}}
        cm["data"] = {"b": "2"}
        got = core.patch_namespaced_config_map(
            "applied", ns, cm, field_manager="py", _content_type="application/apply-patch+yaml")
        assert got.data == {"b": "2"}  # "a" was applied before, is no longer, nobody owns it
        with pytest.raises(kubernetes.client.ApiException) as e:
            core.patch_namespaced_config_map(
                "applied", ns, {**cm, "data": {"b": "3"}}, field_manager="other",
                _content_type="application/apply-patch+yaml")
        assert e.value.status == 409
        assert json.loads(e.value.body)["details"]["causes"][0]["field"] == ".data.b"


def test_bench_smoke() -> None:
    """bench/ssa.py end to end on a few patches (no figure asserted)."""
    from bench.ssa import main

    out = main(["--patches", "8", "--concurrency", "2", "--rounds", "1"])
    assert set(out["median"]) == {"apply", "smp"} and out["apply_vs_smp"] > 0
    assert out["managed_fields_bytes"] > 0


def test_client_side_apply_upgraded_to_server_side(kubectl: Kubectl, server_url: str, ns: str,
                                                   tmp_path: Path) -> None:
    """kubectl apply then kubectl apply --server-side: kubectl moves the fields of its
    client-side manager to its server-side one (csaupgrade), so no conflict."""
    kubectl("apply", "-f", manifest(tmp_path), "-n", ns)
    by = entries(get(server_url, ns))
    assert set(by) == {("kubectl-client-side-apply", "Update")}
    out = kubectl("apply", "--server-side", "-f", manifest(tmp_path, replicas=4), "-n",
                  ns).stdout
    assert "serverside-applied" in out
    obj = get(server_url, ns)
    assert obj["spec"]["replicas"] == 4
    by = entries(obj)
    assert ("kubectl", "Apply") in by
    assert "f:replicas" in by[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    assert ("kubectl-client-side-apply", "Update") not in by or "f:replicas" not in \
        by[("kubectl-client-side-apply", "Update")]["fieldsV1"].get("f:spec", {})


def test_kubectl_scale_takes_replicas_from_the_applier(kubectl: Kubectl, server_url: str,
                                                       ns: str, tmp_path: Path) -> None:
    kubectl("apply", "--server-side", "-f", manifest(tmp_path), "-n", ns)
    kubectl("scale", "deploy/web", "--replicas=6", "-n", ns)
    obj = get(server_url, ns)
    assert obj["spec"]["replicas"] == 6
    scale = [e for e in obj["metadata"]["managedFields"] if e.get("subresource") == "scale"]
    assert [(e["manager"], e["operation"], e["fieldsV1"]) for e in scale] == [
        ("kubectl", "Update", {"f:spec": {"f:replicas": {}}})]
    assert "f:replicas" not in entries(obj)[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    proc = kubectl("apply", "--server-side", "-f", manifest(tmp_path, replicas=3), "-n", ns,
                   check=False)
    assert proc.returncode == 1
    assert ('conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas'
            in proc.stderr)


def test_patch_options_checked_as_kubernetes(server_url: str, ns: str) -> None:
    url = f"{server_url}/api/v1/namespaces/{ns}/configmaps/opts"
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "opts"}}
    code, st = json_request("PATCH", url, cfg, content_type="application/apply-patch+yaml")
    assert code == 422, st
    assert st["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                             'value: is required for apply patch')
    code, st = json_request("PATCH", url + "?force=true", {"data": {}},
                            content_type="application/merge-patch+json")
    assert code == 422 and "force: Forbidden: may not be specified for non-apply patch" \
        in st["message"]
    code, st = json_request("PATCH", url + "?fieldManager=m",
                            {**cfg, "apiVersion": "apps/v1"},
                            content_type="application/apply-patch+yaml")
    assert code == 400 and st["message"] == "invalid object type: apps/v1, Kind=ConfigMap"
    code, st = json_request("PATCH", url + "?fieldManager=m",
                            {**cfg, "metadata": {"name": "opts", "managedFields": [{}]}},
                            content_type="application/apply-patch+yaml")
    assert code == 400 and st["message"] == "metadata.managedFields must be nil"
    code, obj = json_request("PATCH", url + "?fieldManager=m&dryRun=All", cfg,
                             content_type="application/apply-patch+yaml")
    assert code == 201, obj
    assert json_request("GET", url)[0] == 404  # a dry run writes nothing
