"""CRUD for every kind, subresources, generation, generateName, pagination, namespaces."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api import resources
from testing.apiclient import Api, deployment, pod, replicaset
from testing.support import unique, wait_for


def sample(kind: str, name: str) -> dict[str, Any]:
    if kind == "Pod":
        return pod(name)
    if kind == "Deployment":
        return deployment(name)
    if kind == "ReplicaSet":
        return replicaset(name)
    if kind == "DaemonSet":
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    if kind == "StatefulSet":
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    if kind == "ControllerRevision":
        return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name}, "data": {"spec": {}}, "revision": 1}
    if kind == "Node":
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name}},
                "spec": {}, "status": {"capacity": {"cpu": "2", "pods": "110"}}}
    if kind == "Namespace":
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if kind == "Event":
        return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"},
                "reason": "Scheduled", "message": "m", "type": "Normal",
                "source": {"component": "test"}}
    if kind == "Lease":
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name},
                "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                "data": {"k": "v"}}
    if kind == "Secret":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"k": "dg=="}}
    if kind == "Service":
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}
    if kind == "Endpoints":
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
                "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]}
    if kind == "EndpointSlice":
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.244.0.5"]}], "ports": [{"port": 80}]}
    if kind == "HorizontalPodAutoscaler":
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name}, "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": name}, "maxReplicas": 3}}
    if kind == "ReplicationController":
        return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
                "spec": {"replicas": 0, "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox"}]}}}}
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
                "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {
                    "spec": {"restartPolicy": "OnFailure", "containers": [
                        {"name": "c", "image": "busybox"}]}}}}}}
    if kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    if kind == "ResourceQuota":
        return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
                "spec": {"hard": {"pods": "100"}}}
    if kind == "LimitRange":
        return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": name},
                "spec": {"limits": [{"type": "Container", "max": {"cpu": "4"}}]}}
    if kind == "PodDisruptionBudget":
        return {"apiVersion": "policy/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    if kind == "PersistentVolume":
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                         "hostPath": {"path": f"/tmp/{name}"}}}
    if kind == "PersistentVolumeClaim":
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}
    if kind == "StorageClass":
        return {"apiVersion": "storage.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                "provisioner": "example.com/none"}
    if kind == "Ingress":
        return {"apiVersion": "networking.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"defaultBackend": {"service": {"name": "web",
                                                        "port": {"number": 80}}}}}
    if kind == "IngressClass":
        return {"apiVersion": "networking.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"controller": "example.com/ingress"}}
    if kind == "NetworkPolicy":
        return {"apiVersion": "networking.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"podSelector": {"matchLabels": {"app": name}}}}
    if kind in ("Role", "ClusterRole"):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": name},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "view"},
                "subjects": [{"kind": "User", "name": "u"}]}
    if kind == "CustomResourceDefinition":
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": kind,
                "metadata": {"name": f"{name}s.crud.example.com"},
                "spec": {"group": "crud.example.com", "scope": "Namespaced",
                         "names": {"plural": f"{name}s", "kind": "Crud" + name.replace("-", "")},
                         "versions": [{"name": "v1", "served": True, "storage": True,
                                       "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    if kind == "CertificateSigningRequest":
        import base64

        from pki.csr import new_key_pem, new_request

        req = new_request(new_key_pem(), name)
        return {"apiVersion": "certificates.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"request": base64.b64encode(req).decode(), "usages": ["client auth"],
                         "signerName": "example.com/crud"}}
    raise AssertionError(kind)


# Every stored kind (ComponentStatus is computed and read-only: tests/apiserver/test_health.py).
@pytest.mark.parametrize("info", [r for r in resources.ALL if "watch" in r.verbs],
                         ids=lambda r: r.plural)
def test_crud_every_kind(api: Api, ns: str, info: resources.ResourceInfo) -> None:
    name = unique(info.singular[:4])
    namespace = ns if info.namespaced else None
    coll = info.collection_path(namespace)
    body = sample(info.kind, name)
    if info.kind == "CustomResourceDefinition":
        name = body["metadata"]["name"]  # plural.group
    if info.kind == "Event":
        body["involvedObject"]["namespace"] = ns
    created = api.ok("POST", coll, body, 201)
    if info.kind == "CustomResourceDefinition":
        # the server's own status writes (NamesAccepted, Established) come first
        wait_for(lambda: len(api.ok("GET", info.object_path(name))["status"].get(
            "conditions", [])) == 2, timeout=10)
        created = api.ok("GET", info.object_path(name))
    md = created["metadata"]
    assert created["kind"] == info.kind and created["apiVersion"] == info.api_version
    assert md["name"] == name and md["uid"] and md["creationTimestamp"].endswith("Z")
    assert int(md["resourceVersion"]) > 0
    if info.namespaced:
        assert md["namespace"] == ns

    got = api.ok("GET", info.object_path(name, namespace))
    assert got["metadata"]["uid"] == md["uid"]
    assert got["metadata"]["resourceVersion"] == md["resourceVersion"]

    lst = api.ok("GET", coll)
    assert lst["kind"] == info.list_kind
    assert name in [i["metadata"]["name"] for i in lst["items"]]
    assert int(lst["metadata"]["resourceVersion"]) >= int(md["resourceVersion"])

    got.setdefault("metadata", {}).setdefault("labels", {})["touched"] = "yes"
    upd = api.ok("PUT", info.object_path(name, namespace), got)
    assert upd["metadata"]["labels"]["touched"] == "yes"
    assert int(upd["metadata"]["resourceVersion"]) > int(md["resourceVersion"])

    patched = api.ok("PATCH", info.object_path(name, namespace),
                     {"metadata": {"annotations": {"a": "b"}}},
                     content_type="application/merge-patch+json")
    annotations = dict(patched["metadata"]["annotations"])
    # what the apps/v1 DaemonSet shows of its internal spec.templateGeneration
    annotations.pop("deprecated.daemonset.template.generation", None)
    assert annotations == {"a": "b"}
    assert patched["metadata"]["labels"]["touched"] == "yes"

    api.ok("DELETE", info.object_path(name, namespace))
    if info.kind == "Namespace":
        # Namespaces terminate first; the namespace controller finishes the job.
        code, body = api.call("GET", info.object_path(name, namespace))
        assert code == 404 or body["status"]["phase"] == "Terminating"
    else:
        if info.kind in ("PersistentVolume", "PersistentVolumeClaim"):
            # the protection finalizer holds it until its controller lets go
            held = api.ok("GET", info.object_path(name, namespace))
            assert held["metadata"]["deletionTimestamp"], held
            api.ok("PATCH", info.object_path(name, namespace),
                   {"metadata": {"finalizers": None}},
                   content_type="application/merge-patch+json")
        if info.kind == "CustomResourceDefinition":
            # its cleanup finalizer goes once its objects have (none here)
            wait_for(lambda: api.call("GET", info.object_path(name, namespace))[0] == 404,
                     timeout=10)
        code, body = api.call("GET", info.object_path(name, namespace))
        assert code == 404, body
        assert body["reason"] == "NotFound"
        assert body["message"] == f'{info.group_resource} "{name}" not found'


def test_all_namespaces_lists(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("a"), 201)
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("d"), 201)
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", replicaset("r"), 201)
    for path in ("/api/v1/pods", "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets"):
        items = api.ok("GET", path)["items"]
        assert any(i["metadata"]["namespace"] == ns for i in items), path


def test_defaults_and_server_fields(api: Api, ns: str) -> None:
    p = pod("defaults", image="nginx")
    p["metadata"]["uid"] = "client-made"
    p["metadata"]["resourceVersion"] = "99999"
    p["status"] = {"phase": "Running"}
    out = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
    assert out["metadata"]["uid"] != "client-made"
    assert out["spec"]["restartPolicy"] == "Always"
    assert out["spec"]["terminationGracePeriodSeconds"] == 30
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert out["status"]["phase"] == "Pending"
    assert out["metadata"]["generation"] == 1
    d = api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("dd"), 201)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600


def test_unknown_fields_round_trip(api: Api, ns: str) -> None:
    p = pod("unknown")
    p["spec"]["futureField"] = {"x": [1, 2]}
    p["metadata"]["annotations"] = {"keep": "me"}
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
    got = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/unknown")
    assert got["spec"]["futureField"] == {"x": [1, 2]}


def test_generate_name(api: Api, ns: str) -> None:
    body = pod("")
    body["metadata"] = {"generateName": "web-", "labels": {"app": "gen"}}
    names = set()
    for _ in range(5):
        out = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", body, 201)
        n = out["metadata"]["name"]
        assert n.startswith("web-") and len(n) == len("web-") + 5
        assert out["metadata"]["generateName"] == "web-"
        names.add(n)
    assert len(names) == 5


def test_create_conflict_already_exists(api: Api, ns: str) -> None:
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("dup"), 201)
    code, st = api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("dup"))
    assert code == 409
    assert st["reason"] == "AlreadyExists"
    assert st["message"] == 'deployments.apps "dup" already exists'
    assert st["details"] == {"name": "dup", "group": "apps", "kind": "deployments"}


def test_stale_update_conflict(api: Api, ns: str) -> None:
    p = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("cas"), 201)
    p["metadata"]["labels"]["v"] = "1"
    api.ok("PUT", f"/api/v1/namespaces/{ns}/pods/cas", p)
    p["metadata"]["labels"]["v"] = "2"  # still carries the old resourceVersion
    code, st = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/cas", p)
    assert code == 409 and st["reason"] == "Conflict"
    assert "the object has been modified" in st["message"]
    # Without a resourceVersion the update is unconditional.
    del p["metadata"]["resourceVersion"]
    out = api.ok("PUT", f"/api/v1/namespaces/{ns}/pods/cas", p)
    assert out["metadata"]["labels"]["v"] == "2"


def test_concurrent_updates_exactly_one_conflict(api: Api, ns: str, server_url: str) -> None:
    p = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("race"), 201)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def update(value: str) -> None:
        body = {**p, "metadata": {**p["metadata"], "labels": {"who": value}}}
        a = Api(server_url)
        barrier.wait()
        results.append(a.call("PUT", f"/api/v1/namespaces/{ns}/pods/race", body)[0])
        a.close()

    ts = [threading.Thread(target=update, args=(v,)) for v in ("a", "b")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == [200, 409]


def test_status_and_spec_separation_and_generation(api: Api, ns: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", base, deployment("gen", 1), 201)
    assert d["metadata"]["generation"] == 1
    # Status through the main resource is ignored.
    d["status"] = {"replicas": 7}
    d = api.ok("PUT", f"{base}/gen", d)
    assert d.get("status", {}).get("replicas") is None
    assert d["metadata"]["generation"] == 1  # no spec change
    # A label change is not a spec change.
    d["metadata"]["labels"] = {"x": "y"}
    d = api.ok("PUT", f"{base}/gen", d)
    assert d["metadata"]["generation"] == 1
    # Spec change bumps generation.
    d["spec"]["replicas"] = 3
    d = api.ok("PUT", f"{base}/gen", d)
    assert d["metadata"]["generation"] == 2
    # Status subresource changes only status.
    d["status"] = {"replicas": 3, "observedGeneration": 2}
    d["spec"]["replicas"] = 9
    d["metadata"]["labels"] = {"x": "changed"}
    s = api.ok("PUT", f"{base}/gen/status", d)
    assert s["status"]["replicas"] == 3
    assert s["spec"]["replicas"] == 3
    assert s["metadata"]["labels"] == {"x": "y"}
    assert s["metadata"]["generation"] == 2
    # PATCH of status.
    s2 = api.ok("PATCH", f"{base}/gen/status", {"status": {"readyReplicas": 2}},
                content_type="application/merge-patch+json")
    assert s2["status"]["readyReplicas"] == 2 and s2["status"]["replicas"] == 3
    assert api.ok("GET", f"{base}/gen/status")["status"]["readyReplicas"] == 2
    # Patch of spec bumps generation.
    s3 = api.ok("PATCH", f"{base}/gen", {"spec": {"replicas": 4}},
                content_type="application/strategic-merge-patch+json")
    assert s3["metadata"]["generation"] == 3 and s3["status"]["readyReplicas"] == 2


def test_pod_status_subresource(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    p = api.ok("POST", base, pod("st"), 201)
    p["status"] = {"phase": "Running", "podIP": "10.0.0.5"}
    out = api.ok("PUT", f"{base}/st/status", p)
    assert out["status"]["phase"] == "Running"
    again = api.ok("GET", f"{base}/st")
    again["spec"]["activeDeadlineSeconds"] = 5
    again["status"] = {"phase": "Failed"}
    out = api.ok("PUT", f"{base}/st", again)
    assert out["status"]["phase"] == "Running"


def test_binding(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("bind"), 201)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bind"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    api.ok("POST", f"{base}/bind/binding", binding, 201)
    got = api.ok("GET", f"{base}/bind")
    assert got["spec"]["nodeName"] == "node-1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True"
               for c in got["status"]["conditions"])
    binding["target"]["name"] = "node-2"
    code, st = api.call("POST", f"{base}/bind/binding", binding)
    assert code == 409 and st["reason"] == "Conflict"
    assert 'already assigned to node "node-1"' in st["message"]
    code, st = api.call("POST", f"{base}/bind/binding", {**binding, "metadata": {"name": "x"}})
    assert code == 400
    code, st = api.call("POST", f"{base}/missing/binding", {"target": {"name": "n"}})
    assert code == 404
    code, st = api.call("POST", f"{base}/bind/binding", {"target": {}})
    assert code == 422


@pytest.mark.parametrize("plural", ["deployments", "replicasets"])
def test_scale(api: Api, ns: str, plural: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/{plural}"
    body = deployment("sc", 2) if plural == "deployments" else replicaset("sc", 2)
    api.ok("POST", base, body, 201)
    sc = api.ok("GET", f"{base}/sc/scale")
    assert sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["spec"]["replicas"] == 2
    assert sc["status"]["selector"] == "app=sc"
    sc["spec"]["replicas"] = 5
    out = api.ok("PUT", f"{base}/sc/scale", sc)
    assert out["spec"]["replicas"] == 5
    assert api.ok("GET", f"{base}/sc")["spec"]["replicas"] == 5
    # A stale Scale is a conflict.
    code, st = api.call("PUT", f"{base}/sc/scale", sc)
    assert code == 409
    out = api.ok("PATCH", f"{base}/sc/scale", {"spec": {"replicas": 1}},
                 content_type="application/merge-patch+json")
    assert out["spec"]["replicas"] == 1
    obj = api.ok("GET", f"{base}/sc")
    assert obj["spec"]["replicas"] == 1 and obj["metadata"]["generation"] == 3
    code, st = api.call("PATCH", f"{base}/sc/scale", {"spec": {"replicas": -1}},
                        content_type="application/merge-patch+json")
    assert code == 422 and st["details"]["causes"][0]["field"] == "spec.replicas"


def test_list_selectors_and_pagination(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    for i in range(7):
        api.ok("POST", base, pod(f"p{i}", {"app": "a" if i % 2 else "b", "i": str(i)}), 201)
    api.ok("POST", f"{base}/p1/binding", {"target": {"name": "n9"}}, 201)
    names = lambda lst: sorted(i["metadata"]["name"] for i in lst["items"])  # noqa: E731
    assert names(api.ok("GET", base, labelSelector="app=a")) == ["p1", "p3", "p5"]
    assert names(api.ok("GET", base, labelSelector="app!=a,i in (0,2)")) == ["p0", "p2"]
    assert names(api.ok("GET", base, labelSelector="!i")) == []
    assert names(api.ok("GET", base, fieldSelector="spec.nodeName=n9")) == ["p1"]
    assert names(api.ok("GET", base, fieldSelector="metadata.name=p4")) == ["p4"]
    assert len(api.ok("GET", base, fieldSelector="spec.nodeName=")["items"]) == 6
    assert names(api.ok("GET", "/api/v1/pods",
                        fieldSelector=f"metadata.namespace={ns},spec.nodeName=n9")) == ["p1"]
    # limit + continue walk every item exactly once, at one resourceVersion.
    seen: list[str] = []
    cont = None
    rvs = set()
    pages = 0
    while True:
        page = api.ok("GET", base, limit=3, **({"continue": cont} if cont else {}))
        pages += 1
        rvs.add(page["metadata"]["resourceVersion"])
        seen += [i["metadata"]["name"] for i in page["items"]]
        if pages == 1:
            # Written after the first page: not in this consistent list.
            api.ok("POST", base, pod("p99"), 201)
        cont = page["metadata"].get("continue")
        if not cont:
            break
    assert seen == sorted(f"p{i}" for i in range(7))
    assert pages == 3 and len(rvs) == 1
    # limit with a selector fills pages with matches.
    page = api.ok("GET", base, limit=2, labelSelector="app=a")
    assert [i["metadata"]["name"] for i in page["items"]] == ["p1", "p3"]
    page2 = api.ok("GET", base, limit=2, labelSelector="app=a",
                   **{"continue": page["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in page2["items"]] == ["p5"]
    assert not page2["metadata"].get("continue")
    code, st = api.call("GET", base, limit=2, **{"continue": "garbage!"})
    assert code == 400 and st["reason"] == "BadRequest"
    # resourceVersion=0 is served from the cache, also fine.
    assert len(api.ok("GET", base, resourceVersion="0")["items"]) == 8


def test_get_with_resource_version_zero(api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("rv0"), 201)
    from testing.support import wait_for

    wait_for(lambda: api.call("GET", f"/api/v1/namespaces/{ns}/pods/rv0",
                              resourceVersion="0")[0] == 200, timeout=5)


def test_namespace_lifecycle(api: Api) -> None:
    for n in ("default", "kube-system", "kube-node-lease"):
        assert api.ok("GET", f"/api/v1/namespaces/{n}")["status"]["phase"] == "Active"
    code, st = api.call("POST", "/api/v1/namespaces/nope-missing/pods", pod("x"))
    assert code == 404 and st["message"] == 'namespaces "nope-missing" not found'
    ns = api.namespace()
    got = api.ok("GET", f"/api/v1/namespaces/{ns}")
    assert got["spec"]["finalizers"] == ["kubernetes"]
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("inside"), 201)
    out = api.ok("DELETE", f"/api/v1/namespaces/{ns}")
    assert out["status"]["phase"] == "Terminating" and out["metadata"]["deletionTimestamp"]
    code, st = api.call("POST", f"/api/v1/namespaces/{ns}/pods", pod("late"))
    assert code == 403 and st["reason"] == "Forbidden"
    assert "because it is being terminated" in st["message"]
    # The namespace controller empties it, then clears the spec finalizer.
    api.ok("DELETE", f"/api/v1/namespaces/{ns}/pods/inside")
    ns_obj = api.ok("GET", f"/api/v1/namespaces/{ns}")
    ns_obj["spec"]["finalizers"] = []
    api.ok("PUT", f"/api/v1/namespaces/{ns}/finalize", ns_obj)
    code, _ = api.call("GET", f"/api/v1/namespaces/{ns}")
    assert code == 404
    code, st = api.call("DELETE", "/api/v1/namespaces/default")
    assert code == 403


def test_delete_collection(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    for i in range(4):
        api.ok("POST", base, pod(f"dc{i}", {"app": "x" if i < 3 else "y"}), 201)
    out = api.ok("DELETE", base, labelSelector="app=x")
    assert len(out["items"]) == 3
    left = [i["metadata"]["name"] for i in api.ok("GET", base)["items"]]
    assert left == ["dc3"]


def test_events_and_leases_field_selectors(api: Api, ns: str) -> None:
    ev = sample("Event", "e1")
    ev["involvedObject"] = {"kind": "Pod", "name": "web-1", "namespace": ns}
    api.ok("POST", f"/api/v1/namespaces/{ns}/events", ev, 201)
    got = api.ok("GET", f"/api/v1/namespaces/{ns}/events",
                 fieldSelector="involvedObject.name=web-1,involvedObject.kind=Pod")
    assert [i["metadata"]["name"] for i in got["items"]] == ["e1"]
    lease = api.ok("POST", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                   sample("Lease", "l1"), 201)
    lease["spec"]["holderIdentity"] = "b"
    out = api.ok("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/l1", lease)
    assert out["spec"]["holderIdentity"] == "b"


def test_dry_run_writes_nothing(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    out = api.ok("POST", base, pod("dry"), 201, dryRun="All")
    assert out["metadata"]["name"] == "dry"
    assert api.call("GET", f"{base}/dry")[0] == 404
    real = api.ok("POST", base, pod("dry"), 201)
    rv = real["metadata"]["resourceVersion"]
    out = api.ok("PATCH", f"{base}/dry", {"metadata": {"labels": {"x": "y"}}}, dryRun="All",
                 content_type="application/merge-patch+json")
    assert out["metadata"]["labels"]["x"] == "y"
    real["metadata"]["labels"]["z"] = "1"
    api.ok("PUT", f"{base}/dry", real, dryRun="All")
    api.ok("DELETE", f"{base}/dry", dryRun="All")
    got = api.ok("GET", f"{base}/dry")
    assert got["metadata"]["resourceVersion"] == rv and "x" not in got["metadata"]["labels"]


def test_scale_selector_is_the_plain_selector_string() -> None:
    from apiserver import errors
    from apiserver.routes.subresources import to_scale

    sel = {"matchLabels": {"tier": "web"},
           "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["y", "x"]}]}
    assert to_scale({"spec": {"selector": sel}})["status"]["selector"] == \
        "app notin (x,y),tier=web"
    assert to_scale({"spec": {}})["status"]["selector"] == ""
    assert to_scale({"spec": {"selector": {}}})["status"]["selector"] == ""
    with pytest.raises(errors.ApiError) as bad:
        to_scale({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "?"}]}}})
    assert bad.value.code == 400
