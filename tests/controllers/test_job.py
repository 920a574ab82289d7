"""The Job controller in the controller-manager process, with a kubelet on real Docker:
completions and parallelism (never more pods running than parallelism, watched), backoffLimit
with back-off then Failed/BackoffLimitExceeded, Indexed completion (indexes, the
JOB_COMPLETION_INDEX env and the hostnames), a podFailurePolicy FailJob rule on exit code 42,
activeDeadlineSeconds, suspend and resume, and a controller-manager killed mid-Job whose
successor counts every pod exactly once (the job-tracking finalizer)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.models.batch import JOB_COMPLETION_INDEX_ANNOTATION, JOB_TRACKING_FINALIZER
from testing.apiclient import Api, Watch
from testing.support import ApiServer, Process, unique, wait_for
from tests.controllers.helpers import start_controller_manager
from tests.kubelet.helpers import KubeletProc, build_images, docker_client, kubelet_on_docker

pytest.importorskip("docker")

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

BACKOFF = "0.2s"  # the controller's first back-off after a failed pod (doubling)


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    return private_apiserver.url


@pytest.fixture(scope="module")
def kubelet(server_url: str) -> Iterator[KubeletProc]:
    dk = docker_client()
    build_images()
    with kubelet_on_docker(server_url, dk, "jnode") as k:
        yield k
    dk.close()


class Manager:
    """The controller-manager process (job and garbage collector), restartable."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.proc: Process | None = None

    def start(self) -> None:
        self.proc = start_controller_manager(
            self.server, "--controllers=job,garbagecollector",
            f"--job-pod-failure-backoff={BACKOFF}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.stop(sig)
            self.proc = None


@pytest.fixture(scope="module")
def manager(server_url: str) -> Iterator[Manager]:
    m = Manager(server_url)
    m.start()
    yield m
    m.stop()


def job(name: str, node: str, script: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {
                "nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", script]}]}}, **spec}}


def get_job(api: Api, ns: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = api.ok("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")
    return out


def condition(j: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (j.get("status") or {}).get("conditions") or []:
        if c["type"] == type_ and c["status"] == "True":
            return dict(c)
    return None


def wait_condition(api: Api, ns: str, name: str, type_: str, timeout: float = 60
                   ) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        j = get_job(api, ns, name)
        return j if condition(j, type_) else {}
    try:
        return wait_for(check, timeout=timeout, interval=0.2, message=f"job {name} {type_}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; status {get_job(api, ns, name).get('status')}") from None


def pods(api: Api, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    return items


def create(api: Api, ns: str, body: dict[str, Any]) -> None:
    api.ok("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", body, 201)


def events(api: Api, ns: str, name: str) -> list[str]:
    evs = api.ok("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    return [e["reason"] for e in evs if e["involvedObject"].get("name") == name]


class RunningPeak:
    """Watches the namespace's pods and keeps the most that were Running at once."""

    def __init__(self, server: str, ns: str) -> None:
        self.watch = Watch(server, f"/api/v1/namespaces/{ns}/pods")
        self.running: set[str] = set()
        self.peak = 0
        self.seen: set[str] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            ev = self.watch.events.get()
            if ev is None:
                return
            obj = ev["object"]
            name = obj["metadata"]["name"]
            self.seen.add(name)
            if ev["type"] != "DELETED" and (obj.get("status") or {}).get("phase") == "Running":
                self.running.add(name)
            else:
                self.running.discard(name)
            self.peak = max(self.peak, len(self.running))

    def close(self) -> None:
        self.watch.close()


def test_completions_and_parallelism(api: Api, server_url: str, kubelet: KubeletProc,
                                     manager: Manager) -> None:
    ns = api.namespace()
    peak = RunningPeak(server_url, ns)
    try:
        create(api, ns, job("five", kubelet.node, "sleep 1", completions=5, parallelism=2))
        j = wait_condition(api, ns, "five", "Complete", timeout=90)
    finally:
        peak.close()
    st = j["status"]
    assert st["succeeded"] == 5 and "failed" not in st and st.get("active") is None
    assert st["startTime"] <= st["completionTime"]
    assert condition(j, "SuccessCriteriaMet") is not None
    assert st["uncountedTerminatedPods"] == {}
    got = pods(api, ns)
    assert len(got) == 5 and all(p["status"]["phase"] == "Succeeded" for p in got)
    assert all(JOB_TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or [])
               for p in got)
    assert 1 <= peak.peak <= 2, peak.peak
    reasons = events(api, ns, "five")
    assert reasons.count("SuccessfulCreate") == 5 and "Completed" in reasons


def test_backoff_limit_exceeded(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("fails", kubelet.node, "exit 1", backoffLimit=2))
    j = wait_condition(api, ns, "fails", "Failed")
    cond = condition(j, "Failed")
    assert cond is not None and cond["reason"] == "BackoffLimitExceeded"
    assert cond["message"] == "Job has reached the specified backoff limit"
    assert condition(j, "FailureTarget") is not None
    assert j["status"]["failed"] == 3 and "completionTime" not in j["status"]
    got = pods(api, ns)
    assert len(got) == 3 and all(p["status"]["phase"] == "Failed" for p in got)
    # each replacement came after the previous pod failed (the doubling is in test_job_logic)
    starts = sorted(p["metadata"]["creationTimestamp"] for p in got)
    finished = sorted(p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
                      for p in got)
    assert starts[1] >= finished[0] and starts[2] >= finished[1]
    assert "BackoffLimitExceeded" in events(api, ns, "fails")


def test_indexed_completion(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("idx", kubelet.node,
                        'test "$JOB_COMPLETION_INDEX" = "${HOSTNAME##*-}"',
                        completions=3, parallelism=3, completionMode="Indexed"))
    j = wait_condition(api, ns, "idx", "Complete", timeout=60)
    assert j["status"]["completedIndexes"] == "0-2" and j["status"]["succeeded"] == 3
    got = sorted(pods(api, ns), key=lambda p: p["metadata"]["annotations"][
        JOB_COMPLETION_INDEX_ANNOTATION])
    assert [p["metadata"]["annotations"][JOB_COMPLETION_INDEX_ANNOTATION] for p in got] == \
        ["0", "1", "2"]
    for i, p in enumerate(got):
        assert p["spec"]["hostname"] == f"idx-{i}"
        assert p["metadata"]["name"].startswith(f"idx-{i}-")
        assert p["metadata"]["labels"][JOB_COMPLETION_INDEX_ANNOTATION] == str(i)
        env = p["spec"]["containers"][0]["env"]
        assert env == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "apiVersion": "v1",
            "fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"}}}]
        assert p["status"]["phase"] == "Succeeded"  # the script checked env vs hostname


def test_pod_failure_policy_fail_job(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    body = job("pfp", kubelet.node, "exit 42", backoffLimit=6, podFailurePolicy={"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}}]})
    create(api, ns, body)
    j = wait_condition(api, ns, "pfp", "Failed")
    cond = condition(j, "Failed")
    assert cond is not None and cond["reason"] == "PodFailurePolicy"
    pod = pods(api, ns)
    assert len(pod) == 1  # no retry despite backoffLimit 6
    assert cond["message"] == (f"Container c for pod {ns}/{pod[0]['metadata']['name']} failed "
                               "with exit code 42 matching FailJob rule at index 0")


def test_active_deadline(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("slow", kubelet.node, "sleep 60", activeDeadlineSeconds=3))
    t0 = time.monotonic()
    j = wait_condition(api, ns, "slow", "Failed", timeout=40)
    assert time.monotonic() - t0 >= 2.5
    cond = condition(j, "Failed")
    assert cond is not None and cond["reason"] == "DeadlineExceeded"
    assert cond["message"] == "Job was active longer than specified deadline"
    assert j["status"]["failed"] == 1 and j["status"].get("active") is None
    assert "DeadlineExceeded" in events(api, ns, "slow")


def test_suspend_and_resume(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("sus", kubelet.node, "sleep 2", suspend=True, completions=2,
                        parallelism=2))
    j = wait_condition(api, ns, "sus", "Suspended")
    assert "startTime" not in j["status"] and pods(api, ns) == []
    api.ok("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/sus", {"spec": {"suspend": False}},
           content_type="application/merge-patch+json")

    def running() -> bool:
        return sum(1 for p in pods(api, ns) if p["status"].get("phase") == "Running") == 2
    wait_for(running, timeout=30, interval=0.2, message="2 running after resume")
    first_start = get_job(api, ns, "sus")["status"]["startTime"]
    api.ok("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/sus", {"spec": {"suspend": True}},
           content_type="application/merge-patch+json")
    j = wait_condition(api, ns, "sus", "Suspended")
    wait_for(lambda: not [p for p in pods(api, ns) if p["metadata"].get("deletionTimestamp")
                          is None], timeout=30, message="pods deleted when suspended")
    time.sleep(1.1)  # the next startTime must differ at one-second precision
    api.ok("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/sus", {"spec": {"suspend": False}},
           content_type="application/merge-patch+json")
    j = wait_condition(api, ns, "sus", "Complete", timeout=60)
    assert j["status"]["startTime"] > first_start
    sus = [c for c in j["status"]["conditions"] if c["type"] == "Suspended"]
    assert sus[0]["status"] == "False" and sus[0]["reason"] == "JobResumed"
    assert j["status"]["succeeded"] == 2
    reasons = events(api, ns, "sus")
    assert "Suspended" in reasons and "Resumed" in reasons and "SuccessfulDelete" in reasons


def test_controller_restart_counts_exactly(api: Api, kubelet: KubeletProc,
                                          manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("rs", kubelet.node, "sleep 1", completions=6, parallelism=3))

    def some_done() -> bool:
        st = get_job(api, ns, "rs").get("status") or {}
        return (st.get("succeeded") or 0) >= 1 or bool(
            [p for p in pods(api, ns) if p["status"].get("phase") == "Succeeded"])
    wait_for(some_done, timeout=60, interval=0.1, message="a first pod done")
    manager.stop(signal.SIGKILL)
    # pods finish while no controller runs: they keep their finalizer, uncounted
    wait_for(lambda: sum(1 for p in pods(api, ns) if p["status"].get("phase") == "Succeeded")
             >= 3, timeout=30, interval=0.2, message="pods finished while down")
    manager.start()
    try:
        j = wait_condition(api, ns, "rs", "Complete", timeout=60)
    except AssertionError as exc:
        log = manager.proc.log_tail() if manager.proc else ""
        raise AssertionError(f"{exc}\npods: {[(p['metadata']['name'], p['status'].get('phase'), p['metadata'].get('finalizers')) for p in pods(api, ns)]}\n{log}") from None
    got = pods(api, ns)
    done = [p for p in got if p["status"]["phase"] == "Succeeded"]
    assert j["status"]["succeeded"] == 6 == len(done) == len(got)
    assert "failed" not in j["status"]
    assert all(JOB_TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or [])
               for p in got)


def test_deleting_a_job_removes_pods_and_finalizers(api: Api, kubelet: KubeletProc,
                                                    manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("gone", kubelet.node, "sleep 60", parallelism=2, completions=2))
    wait_for(lambda: len(pods(api, ns)) == 2, timeout=30, message="2 pods")
    api.ok("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/gone")
    wait_for(lambda: pods(api, ns) == [], timeout=60, interval=0.3,
             message=f"pods gone with the job (unique {unique('x')})")


def test_backoff_limit_per_index(api: Api, kubelet: KubeletProc, manager: Manager) -> None:
    ns = api.namespace()
    create(api, ns, job("per", kubelet.node, 'test "$JOB_COMPLETION_INDEX" != 1',
                        completions=3, parallelism=3, completionMode="Indexed",
                        backoffLimitPerIndex=1))
    j = wait_condition(api, ns, "per", "Failed", timeout=60)
    st = j["status"]
    cond = condition(j, "Failed")
    assert cond is not None and cond["reason"] == "FailedIndexes"
    assert (st["completedIndexes"], st["failedIndexes"], st["succeeded"], st["failed"]) == (
        "0,2", "1", 2, 2)
    failed = [p for p in pods(api, ns) if p["status"]["phase"] == "Failed"]
    counts = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"]
                    for p in failed)
    assert counts == ["0", "1"]  # the retry of index 1 carried its failure count


def test_manual_selector_adopts_a_matching_pod(api: Api, kubelet: KubeletProc,
                                               manager: Manager) -> None:
    ns = api.namespace()
    orphan = {"metadata": {"name": "stray", "labels": {"batch": "mine"}},
              "spec": job("x", kubelet.node, "sleep 1")["spec"]["template"]["spec"]}
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", orphan, 201)
    body = job("man", kubelet.node, "sleep 1", completions=2, manualSelector=True,
               selector={"matchLabels": {"batch": "mine"}})
    body["spec"]["template"]["metadata"] = {"labels": {"batch": "mine"}}
    create(api, ns, body)
    j = wait_condition(api, ns, "man", "Complete", timeout=60)
    assert j["status"]["succeeded"] == 2 and j["spec"]["selector"] == {
        "matchLabels": {"batch": "mine"}}
    got = pods(api, ns)
    assert len(got) == 2  # the stray pod counted as one completion
    stray = next(p for p in got if p["metadata"]["name"] == "stray")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == j["metadata"]["uid"]
    assert not stray["metadata"].get("finalizers")


def test_pod_failure_policy_ignores_disruptions(api: Api, manager: Manager) -> None:
    """No kubelet: the test writes the pods' statuses, as an eviction and a run would."""
    ns = api.namespace()
    body = job("dis", "no-such-node", "true", backoffLimit=0, podFailurePolicy={"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]})
    create(api, ns, body)
    first = wait_for(lambda: pods(api, ns), timeout=20, message="the first pod")[0]
    name = first["metadata"]["name"]
    first["status"] = {"phase": "Failed", "conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]}
    api.ok("PUT", f"/api/v1/namespaces/{ns}/pods/{name}/status", first)

    def replacement() -> list[dict[str, Any]]:
        return [p for p in pods(api, ns) if p["metadata"]["name"] != name]
    second = wait_for(replacement, timeout=20, message="a replacement pod")[0]
    assert get_job(api, ns, "dis")["status"].get("failed") is None  # ignored, not counted
    assert condition(get_job(api, ns, "dis"), "Failed") is None
    second["status"] = {"phase": "Succeeded", "containerStatuses": [{"name": "c", "state": {
        "terminated": {"exitCode": 0, "reason": "Completed"}}}]}
    api.ok("PUT", f"/api/v1/namespaces/{ns}/pods/{second['metadata']['name']}/status", second)
    j = wait_condition(api, ns, "dis", "Complete", timeout=30)
    assert j["status"]["succeeded"] == 1 and "failed" not in j["status"]
