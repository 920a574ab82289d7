"""kubectl drain and minictl drain on a private API server with the controller-manager
(deployment, replicaset, daemonset, disruption), the scheduler and three hollow kubelets:
the Deployment's pods move off the drained node one at a time while a PodDisruptionBudget
minAvailable 2 holds (evictions answered 429 are retried; a watch checks that the ready
pods never drop under 2), DaemonSet pods are skipped with kubectl's warning, unmanaged and
DaemonSet pods stop a drain with kubectl's errors (minictl's output equal to kubectl's),
dry runs, --disable-eviction, cordon/uncordon."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api, Watch
from testing.support import ApiServer, Process, free_port, service, unique, wait_for
from tests.cli.helpers import mctl
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # the scheduler and the kubelets act on every node: a server of this module's own
    return private_apiserver.url


@pytest.fixture(scope="module")
def nodes(server_url: str) -> Iterator[list[str]]:
    base = unique("dr")
    procs: list[Process] = [
        start_controller_manager(server_url,
                                 "--controllers=deployment,replicaset,daemonset,disruption"),
        service("scheduler", "scheduler", ["--server", server_url]),
        service("kubelet-hollow", "kubelet", [
            "--server", server_url, "--runtime", "fake", "--fake-nodes", "3",
            "--node-name", base, "--port", str(free_port()), "--no-http"]),
    ]
    names = [f"{base}-{i}" for i in range(3)]
    api = Api(server_url)
    wait_for(lambda: len([n for n in api.ok("GET", "/api/v1/nodes")["items"]
                          if n["metadata"]["name"] in names]) == 3,
             timeout=30, message="three hollow nodes")
    yield names
    api.close()
    for p in reversed(procs):
        p.stop()


def web(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "nginx:1"}]}}}}


def agent() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "busybox"}]}}}}


def pods(api: Api, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.ok("GET", f"/api/v1/namespaces/{ns}/pods",
                                         labelSelector=f"app={app}")["items"]
    return items


def ready(p: dict[str, Any]) -> bool:
    return not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (p.get("status") or {}).get("conditions") or [])


def on(api: Api, ns: str, app: str, node: str) -> list[dict[str, Any]]:
    return [p for p in pods(api, ns, app) if p["spec"].get("nodeName") == node]


class ReadyWatch:
    """The fewest ready web pods seen after any watch event."""

    def __init__(self, api: Api, ns: str) -> None:
        listed = api.ok("GET", f"/api/v1/namespaces/{ns}/pods", labelSelector="app=web")
        self.state: dict[str, bool] = {p["metadata"]["name"]: ready(p)
                                       for p in listed["items"]}
        self.minimum: int | None = sum(self.state.values())
        self.watch = Watch(api.url, f"/api/v1/namespaces/{ns}/pods", labelSelector="app=web",
                           resourceVersion=listed["metadata"]["resourceVersion"])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                ev = self.watch.next(timeout=0.5)
            except Exception:
                continue
            if ev["type"] == "BOOKMARK":
                continue
            name = ev["object"]["metadata"]["name"]
            self.state[name] = ev["type"] != "DELETED" and ready(ev["object"])
            n = sum(self.state.values())
            if self.state and (self.minimum is None or n < self.minimum):
                self.minimum = n

    def close(self) -> None:
        self.stop.set()
        self.watch.close()
        self.thread.join(5)


def test_kubectl_drain_honours_the_budget(server_url: str, nodes: list[str],
                                          kubectl: kubectl_cli.Kubectl) -> None:
    api = Api(server_url)
    ns = api.namespace()
    target, others = nodes[0], nodes[1:]
    # All web pods on the target: the other nodes are cordoned while they are scheduled.
    for n in others:
        kubectl("cordon", n)
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", agent(), 201)
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", web(3), 201)
    wait_for(lambda: len([p for p in on(api, ns, "web", target) if ready(p)]) == 3,
             timeout=60, message="three ready web pods on the target")
    for n in others:
        assert kubectl("uncordon", n).stdout == f"node/{n} uncordoned\n"
    wait_for(lambda: len([p for p in pods(api, ns, "agent") if ready(p)]) == 3, timeout=60,
             message="an agent on every node")
    kubectl("create", "pdb", "web", "-n", ns, "--selector=app=web", "--min-available=2")
    wait_for(lambda: (api.ok("GET", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/"
                                    "web")["status"].get("disruptionsAllowed") == 1),
             timeout=30, message="the budget allows one disruption")
    victims = sorted(p["metadata"]["name"] for p in on(api, ns, "web", target))
    ds_pod = on(api, ns, "agent", target)[0]["metadata"]["name"]
    watch = ReadyWatch(api, ns)
    try:
        proc = kubectl("drain", target, "--ignore-daemonsets", "--timeout=120s", timeout=150)
    finally:
        watch.close()
    out, err = proc.stdout.splitlines(), proc.stderr
    assert out[0] == f"node/{target} cordoned"
    assert out[-1] == f"node/{target} drained"
    assert sorted(line for line in out if line.startswith("pod/")) == sorted(
        f"pod/{v} evicted" for v in victims)
    assert {line for line in out if line.startswith("evicting")} == {
        f"evicting pod {ns}/{v}" for v in victims}
    assert f"Warning: ignoring DaemonSet-managed Pods: {ns}/{ds_pod}" in err
    # The budget made kubectl wait: 429s with Kubernetes' message, retried.
    assert ("(will retry after 5s): Cannot evict pod as it would violate the pod's "
            "disruption budget.") in err
    assert watch.minimum is not None and watch.minimum >= 2, watch.minimum
    assert on(api, ns, "web", target) == []
    wait_for(lambda: len([p for p in pods(api, ns, "web") if ready(p)]) == 3, timeout=30,
             message="three ready web pods elsewhere")
    assert [p["metadata"]["name"] for p in on(api, ns, "agent", target)] == [ds_pod]
    kubectl("uncordon", target)
    api.close()


def _any_order(text: str) -> str:
    """kubectl groups the pods of a warning or an error by message in a Go map, so the
    groups come in any order: each line with its groups sorted."""
    out = []
    for line in text.splitlines(keepends=True):
        end = "\n" if line.endswith("\n") else ""
        body = line.removesuffix("\n")
        if body.startswith("Warning: "):
            body = "Warning: " + "; ".join(sorted(body[len("Warning: "):].split("; ")))
        elif "[cannot delete " in body:
            head, _, rest = body.partition("[")
            inner, _, tail = rest.rpartition("]")
            groups = sorted(g.removeprefix("cannot delete ")
                            for g in inner.split(", cannot delete "))
            body = f"{head}[{', '.join('cannot delete ' + g for g in groups)}]{tail}"
        out.append(body + end)
    return "".join(out)


def run_both(server_url: str, kubectl: kubectl_cli.Kubectl, node: str, *args: str
             ) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    m = mctl(server_url, "drain", node, *args)
    mine = (m.exit_code, m.stdout, _any_order(m.stderr))
    mctl(server_url, "uncordon", node)
    k = kubectl("drain", node, *args, check=False)
    theirs = (k.returncode, k.stdout, _any_order(k.stderr))
    kubectl("uncordon", node)
    return mine, theirs


def test_minictl_drain_errors_and_dry_runs_match_kubectl(server_url: str, nodes: list[str],
                                                         kubectl: kubectl_cli.Kubectl) -> None:
    api = Api(server_url)
    ns = api.namespace()
    node = nodes[2]
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", agent(), 201)
    wait_for(lambda: any(ready(p) for p in on(api, ns, "agent", node)), timeout=60,
             message="the agent on the node")
    # DaemonSet pods (of this namespace and of the other test's) stop a plain drain.
    mine, theirs = run_both(server_url, kubectl, node, "--pod-selector=app=agent")
    assert mine == theirs, f"{mine[2]}\n{theirs[2]}"
    assert mine[0] == 1 and "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets " \
                           "to ignore)" in mine[2]
    # An unmanaged pod stops it too, unless --force.
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "bare", "labels": {
        "app": "bare"}}, "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                                   "containers": [{"name": "c", "image": "nginx:1"}]}}, 201)
    mine, theirs = run_both(server_url, kubectl, node, "--ignore-daemonsets",
                            "--pod-selector=app in (agent,bare)")
    assert mine == theirs
    assert (f'error: unable to drain node "{node}" due to error: cannot delete Pods that '
            f"declare no controller (use --force to override): {ns}/bare, continuing "
            "command...") in mine[2]
    # Dry runs print what would go, and nothing goes.
    for dry in ("--dry-run=client", "--dry-run=server"):
        mine, theirs = run_both(server_url, kubectl, node, "--ignore-daemonsets", "--force",
                                "--pod-selector=app in (agent,bare)", dry)
        assert mine == theirs, dry
        assert mine[0] == 0
    assert [p["metadata"]["name"] for p in on(api, ns, "bare", node)] == ["bare"]
    # minictl evicts it for real (--force), then kubectl finds nothing left to do.
    r = mctl(server_url, "drain", node, "--ignore-daemonsets", "--force",
             "--pod-selector=app in (agent,bare)")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"node/{node} cordoned", f"evicting pod {ns}/bare",
                                     "pod/bare evicted", f"node/{node} drained"]
    assert r.stderr.startswith("Warning: deleting Pods that declare no controller: "
                               f"{ns}/bare; ignoring DaemonSet-managed Pods: ") or \
        r.stderr.startswith("Warning: ignoring DaemonSet-managed Pods: ")
    assert on(api, ns, "bare", node) == []
    k = kubectl("drain", node, "--ignore-daemonsets", "--pod-selector=app=bare")
    assert k.stdout == f"node/{node} already cordoned\nnode/{node} drained\n"
    r = mctl(server_url, "uncordon", node)
    assert r.stdout == f"node/{node} uncordoned\n"
    api.close()


def test_disable_eviction_deletes(server_url: str, nodes: list[str],
                                  kubectl: kubectl_cli.Kubectl) -> None:
    """Deletes instead of evictions; kubectl's are DELETEs with a protobuf DeleteOptions."""
    api = Api(server_url)
    ns = api.namespace()
    node = nodes[1]
    outs = []
    for run in ("minictl", "kubectl"):
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {
            "name": "solo", "labels": {"app": "solo"}}, "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "nginx:1"}]}}, 201)
        args = ("drain", node, "--force", "--disable-eviction", "--pod-selector=app=solo",
                "--timeout=60s", "--grace-period=0")
        if run == "minictl":
            r = mctl(server_url, *args)
            outs.append((r.exit_code, r.stdout, r.stderr))
            mctl(server_url, "uncordon", node)
        else:
            k = kubectl(*args, check=False, timeout=90)
            outs.append((k.returncode, k.stdout, k.stderr))
            kubectl("uncordon", node)
        wait_for(lambda: api.call("GET", f"/api/v1/namespaces/{ns}/pods/solo")[0] == 404,
                 timeout=30, message="solo gone")
    assert outs[0] == outs[1]
    assert outs[0][1].splitlines() == [f"node/{node} cordoned", "pod/solo deleted",
                                       f"node/{node} drained"]
    api.close()


def test_minictl_drain_waits_for_the_budget(server_url: str, nodes: list[str],
                                            kubectl: kubectl_cli.Kubectl) -> None:
    api = Api(server_url)
    ns = api.namespace()
    target = nodes[1]
    others = [n for n in nodes if n != target]
    for n in others:
        kubectl("cordon", n)
    dep = web(3)
    dep["metadata"]["name"] = "web2"
    dep["spec"]["selector"]["matchLabels"] = {"app": "web2"}
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", dep, 201)
    wait_for(lambda: len([p for p in on(api, ns, "web2", target) if ready(p)]) == 3,
             timeout=60, message="three ready web2 pods on the target")
    for n in others:
        kubectl("uncordon", n)
    r = mctl(server_url, "create", "pdb", "web2", "-n", ns, "--selector=app=web2",
             "--min-available=2")
    assert r.exit_code == 0, r.output
    wait_for(lambda: (api.ok("GET", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/"
                                    "web2")["status"].get("disruptionsAllowed") == 1),
             timeout=30, message="the budget allows one disruption")
    victims = sorted(p["metadata"]["name"] for p in on(api, ns, "web2", target))
    r = mctl(server_url, "drain", target, "--ignore-daemonsets", "--pod-selector=app=web2",
             "--timeout=120s")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[0] == f"node/{target} cordoned" and out[-1] == f"node/{target} drained"
    assert sorted(line for line in out if line.startswith("pod/")) == sorted(
        f"pod/{v} evicted" for v in victims)
    assert {line for line in out if line.startswith("evicting")} == {
        f"evicting pod {ns}/{v}" for v in victims}
    assert (f' -n "{ns}" (will retry after 5s): Cannot evict pod as it would violate the '
            "pod's disruption budget.") in r.stderr
    assert on(api, ns, "web2", target) == []
    mctl(server_url, "uncordon", target)
    api.close()
