"""The workloads a fault lands in: a 30-replica Deployment create (with a 3-replica
StatefulSet), a rolling update of it, its foreground delete cascade, and a Job run.

Each scenario ``prepare``s what must exist before the fault (not timed), ``act``s (the writes
the fault lands in; each acknowledged one recorded) and says when it ``converged``.
"""

from __future__ import annotations

from typing import Any

from testing.chaos import IMAGE, Api

REPLICAS = 30
STATEFUL = 3
COMPLETIONS = 12


def pod_spec(command: list[str], restart: str = "Always") -> dict[str, Any]:
    return {"terminationGracePeriodSeconds": 1, "restartPolicy": restart,
            "containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "Never",
                            "command": command}]}


def deployment(name: str, replicas: int = REPLICAS) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": pod_spec(["sleep", "3600"])}}}


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def statefulset(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": STATEFUL, "serviceName": name, "podManagementPolicy": "Parallel",
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": pod_spec(["sleep", "3600"])}}}


def job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"completions": COMPLETIONS, "parallelism": 6, "backoffLimit": 20,
                     "template": {"spec": pod_spec(["sh", "-c", "sleep 1"], "Never")}}}


def deployment_done(api: Api, ns: str, name: str) -> bool:
    d = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    if d is None:
        return False
    st, want = d.get("status") or {}, d["spec"]["replicas"]
    return bool(st.get("observedGeneration", 0) >= d["metadata"]["generation"]
                and st.get("replicas") == want and st.get("updatedReplicas") == want
                and st.get("availableReplicas") == want and st.get("readyReplicas") == want)


class Scenario:
    name = ""

    def __init__(self, api: Api, ns: str) -> None:
        self.api = api
        self.ns = ns
        self.problems: list[str] = []

    def prepare(self) -> None:
        pass

    def act(self) -> None:
        raise NotImplementedError

    def converged(self) -> bool:
        raise NotImplementedError

    def check(self) -> list[str]:
        """Scenario-specific acknowledged writes that must show in the end state."""
        return self.problems

    def write(self, method: str, path: str, body: Any, ok: tuple[int, ...]) -> Any:
        """One write retried until the API answers; an answer outside ``ok`` is a problem."""
        code, out = self.api.call(method, path, body, deadline=60)
        assert code in ok, f"{method} {path}: {code} {out}"
        return out

    def wait_deployment(self, name: str) -> None:
        from testing.support import wait_for

        wait_for(lambda: deployment_done(self.api, self.ns, name), timeout=120, interval=0.5,
                 message=f"Deployment {name} rolled out")


class Create(Scenario):
    name = "create"

    def act(self) -> None:
        self.write("POST", f"/api/v1/namespaces/{self.ns}/services", service("web"), (201, 409))
        self.write("POST", f"/apis/apps/v1/namespaces/{self.ns}/deployments", deployment("web"),
                   (201, 409))
        self.write("POST", f"/apis/apps/v1/namespaces/{self.ns}/statefulsets", statefulset("db"),
                   (201, 409))

    def converged(self) -> bool:
        if not deployment_done(self.api, self.ns, "web"):
            return False
        ss = self.api.get(f"/apis/apps/v1/namespaces/{self.ns}/statefulsets/db") or {}
        return bool((ss.get("status") or {}).get("readyReplicas") == STATEFUL)


class Rolling(Scenario):
    name = "rolling"

    def prepare(self) -> None:
        self.write("POST", f"/api/v1/namespaces/{self.ns}/services", service("web"), (201,))
        self.write("POST", f"/apis/apps/v1/namespaces/{self.ns}/deployments", deployment("web"),
                   (201,))
        self.wait_deployment("web")

    def act(self) -> None:
        code, out = self.api.call("PATCH", f"/apis/apps/v1/namespaces/{self.ns}/deployments/web",
                                  {"spec": {"template": {"metadata": {
                                      "annotations": {"chaos/revision": "2"}}}}},
                                  deadline=60, content_type="application/merge-patch+json")
        assert code == 200, f"PATCH: {code} {out}"

    def converged(self) -> bool:
        if not deployment_done(self.api, self.ns, "web"):
            return False
        rss = self.api.items(f"/apis/apps/v1/namespaces/{self.ns}/replicasets")
        new = [r for r in rss if (r["spec"]["template"]["metadata"].get("annotations") or {})
               .get("chaos/revision") == "2"]
        old = [r for r in rss if r not in new]
        return len(new) == 1 and new[0]["spec"]["replicas"] == REPLICAS and \
            (new[0].get("status") or {}).get("readyReplicas") == REPLICAS and \
            all(r["spec"]["replicas"] == 0 and not (r.get("status") or {}).get("replicas")
                for r in old)

    def check(self) -> list[str]:
        d = self.api.get(f"/apis/apps/v1/namespaces/{self.ns}/deployments/web") or {}
        ann = ((d.get("spec") or {}).get("template", {}).get("metadata") or {}).get(
            "annotations") or {}
        return [] if ann.get("chaos/revision") == "2" else \
            ["the acknowledged rolling update's template is not the Deployment's"]


class Cascade(Scenario):
    name = "cascade"

    def prepare(self) -> None:
        self.write("POST", f"/api/v1/namespaces/{self.ns}/services", service("web"), (201,))
        self.write("POST", f"/apis/apps/v1/namespaces/{self.ns}/deployments", deployment("web"),
                   (201,))
        self.wait_deployment("web")

    def act(self) -> None:
        self.write("DELETE", f"/apis/apps/v1/namespaces/{self.ns}/deployments/web",
                   {"propagationPolicy": "Foreground"}, (200, 202, 404))
        self.write("DELETE", f"/api/v1/namespaces/{self.ns}/services/web", None, (200, 404))

    def converged(self) -> bool:
        return self.api.get(f"/apis/apps/v1/namespaces/{self.ns}/deployments/web") is None and \
            not self.api.items(f"/apis/apps/v1/namespaces/{self.ns}/replicasets") and \
            not self.api.items(f"/api/v1/namespaces/{self.ns}/pods")


class JobRun(Scenario):
    name = "job"

    def act(self) -> None:
        self.write("POST", f"/apis/batch/v1/namespaces/{self.ns}/jobs", job("batch"), (201, 409))

    def converged(self) -> bool:
        j = self.api.get(f"/apis/batch/v1/namespaces/{self.ns}/jobs/batch") or {}
        st = j.get("status") or {}
        return any(c["type"] == "Complete" and c["status"] == "True"
                   for c in st.get("conditions") or []) and not st.get("active")

    def check(self) -> list[str]:
        j = self.api.get(f"/apis/batch/v1/namespaces/{self.ns}/jobs/batch") or {}
        st = j.get("status") or {}
        out = []
        if st.get("succeeded") != COMPLETIONS:
            out.append(f"Job succeeded {st.get('succeeded')} for {COMPLETIONS} completions")
        pods = [p for p in self.api.items(f"/api/v1/namespaces/{self.ns}/pods")
                if (p.get("status") or {}).get("phase") == "Succeeded"]
        if len(pods) != COMPLETIONS:
            out.append(f"{len(pods)} Succeeded pods for {COMPLETIONS} completions")
        return out


SCENARIOS: dict[str, type[Scenario]] = {s.name: s for s in (Create, Rolling, Cascade, JobRun)}
