"""The wire models: Kubernetes' field names, and a lossless round trip for unknown fields."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes.client as k8s
import pytest
from pydantic import BaseModel

from api import models as m
from api.base import Model
from api.models.core import Container

# Every model of ours, and the official client's class for the same Kubernetes type.
# The official client is generated from Kubernetes' OpenAPI, so its attribute_map
# holds the real JSON names.
PAIRS: list[tuple[type[Model], type[Any]]] = [
    (m.ObjectMeta, k8s.V1ObjectMeta),
    (m.ListMeta, k8s.V1ListMeta),
    (m.OwnerReference, k8s.V1OwnerReference),
    (m.ManagedFieldsEntry, k8s.V1ManagedFieldsEntry),
    (m.Status, k8s.V1Status),
    (m.StatusDetails, k8s.V1StatusDetails),
    (m.StatusCause, k8s.V1StatusCause),
    (m.LabelSelector, k8s.V1LabelSelector),
    (m.LabelSelectorRequirement, k8s.V1LabelSelectorRequirement),
    (m.Namespace, k8s.V1Namespace),
    (m.NamespaceSpec, k8s.V1NamespaceSpec),
    (m.NamespaceStatus, k8s.V1NamespaceStatus),
    (m.Node, k8s.V1Node),
    (m.NodeSpec, k8s.V1NodeSpec),
    (m.NodeStatus, k8s.V1NodeStatus),
    (m.NodeAddress, k8s.V1NodeAddress),
    (m.NodeSystemInfo, k8s.V1NodeSystemInfo),
    (m.NodeDaemonEndpoints, k8s.V1NodeDaemonEndpoints),
    (m.DaemonEndpoint, k8s.V1DaemonEndpoint),
    (m.Taint, k8s.V1Taint),
    (m.Pod, k8s.V1Pod),
    (m.PodSpec, k8s.V1PodSpec),
    (m.PodStatus, k8s.V1PodStatus),
    (m.PodIP, k8s.V1PodIP),
    (m.HostIP, k8s.V1HostIP),
    (m.PodTemplateSpec, k8s.V1PodTemplateSpec),
    (Container, k8s.V1Container),
    (m.ContainerPort, k8s.V1ContainerPort),
    (m.EnvVar, k8s.V1EnvVar),
    (m.ResourceRequirements, k8s.V1ResourceRequirements),
    (m.VolumeMount, k8s.V1VolumeMount),
    (m.Volume, k8s.V1Volume),
    (m.EmptyDirVolumeSource, k8s.V1EmptyDirVolumeSource),
    (m.HostPathVolumeSource, k8s.V1HostPathVolumeSource),
    (m.Probe, k8s.V1Probe),
    (m.ExecAction, k8s.V1ExecAction),
    (m.HTTPGetAction, k8s.V1HTTPGetAction),
    (m.HTTPHeader, k8s.V1HTTPHeader),
    (m.TCPSocketAction, k8s.V1TCPSocketAction),
    (m.GRPCAction, k8s.V1GRPCAction),
    (m.Affinity, k8s.V1Affinity),
    (m.NodeAffinity, k8s.V1NodeAffinity),
    (m.NodeSelector, k8s.V1NodeSelector),
    (m.NodeSelectorTerm, k8s.V1NodeSelectorTerm),
    (m.NodeSelectorRequirement, k8s.V1NodeSelectorRequirement),
    (m.PreferredSchedulingTerm, k8s.V1PreferredSchedulingTerm),
    (m.Toleration, k8s.V1Toleration),
    (m.ContainerStatus, k8s.V1ContainerStatus),
    (m.ContainerState, k8s.V1ContainerState),
    (m.ContainerStateWaiting, k8s.V1ContainerStateWaiting),
    (m.ContainerStateRunning, k8s.V1ContainerStateRunning),
    (m.ContainerStateTerminated, k8s.V1ContainerStateTerminated),
    (m.Event, k8s.CoreV1Event),
    (m.EventSource, k8s.V1EventSource),
    (m.EventSeries, k8s.CoreV1EventSeries),
    (m.ObjectReference, k8s.V1ObjectReference),
    (m.Binding, k8s.V1Binding),
    (m.Deployment, k8s.V1Deployment),
    (m.DeploymentSpec, k8s.V1DeploymentSpec),
    (m.DeploymentStatus, k8s.V1DeploymentStatus),
    (m.DeploymentStrategy, k8s.V1DeploymentStrategy),
    (m.RollingUpdateDeployment, k8s.V1RollingUpdateDeployment),
    (m.ReplicaSet, k8s.V1ReplicaSet),
    (m.ReplicaSetSpec, k8s.V1ReplicaSetSpec),
    (m.ReplicaSetStatus, k8s.V1ReplicaSetStatus),
    (m.Scale, k8s.V1Scale),
    (m.ScaleSpec, k8s.V1ScaleSpec),
    (m.ScaleStatus, k8s.V1ScaleStatus),
    (m.Lease, k8s.V1Lease),
    (m.LeaseSpec, k8s.V1LeaseSpec),
]

# Conditions share one model of ours; each Kubernetes condition type has a subset.
CONDITIONS = [k8s.V1PodCondition, k8s.V1NodeCondition, k8s.V1DeploymentCondition,
              k8s.V1ReplicaSetCondition, k8s.V1NamespaceCondition]


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_field_names_are_kubernetes(ours: type[Model], theirs: type[Any]) -> None:
    unknown = _aliases(ours) - set(theirs.attribute_map.values())
    assert not unknown, f"{ours.__name__}: not Kubernetes field names: {sorted(unknown)}"


def test_condition_fields_are_the_union_of_kubernetes_conditions() -> None:
    union: set[str] = set()
    for c in CONDITIONS:
        union |= set(c.attribute_map.values())
    assert _aliases(m.Condition) <= union


def test_all_exports_are_models() -> None:
    for name in m.__all__:
        obj = getattr(m, name)
        assert obj is not None, name


def _official(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = k8s.ApiClient().sanitize_for_serialization(obj)
    return out


def full_pod() -> dict[str, Any]:
    """A pod with most fields set, serialized by the official client (real field names)."""
    pod = k8s.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=k8s.V1ObjectMeta(
            name="web-1", namespace="default", uid="u", resource_version="5", generation=1,
            labels={"app": "web"}, annotations={"a": "b"}, finalizers=["x/y"],
            generate_name="web-", deletion_grace_period_seconds=30,
            owner_references=[k8s.V1OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="rs", uid="r", controller=True, block_owner_deletion=True)],
        ),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="web", image="nginx", command=["nginx"], args=["-g"], working_dir="/",
                    env=[k8s.V1EnvVar(name="A", value="1"),
                         k8s.V1EnvVar(name="B", value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name")))],
                    ports=[k8s.V1ContainerPort(container_port=80, host_port=8080, host_ip="0.0.0.0", name="http", protocol="TCP")],
                    resources=k8s.V1ResourceRequirements(requests={"cpu": "100m"}, limits={"memory": "1Gi"}),
                    volume_mounts=[k8s.V1VolumeMount(name="d", mount_path="/d", read_only=True, sub_path="x")],
                    liveness_probe=k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path="/", port=80, scheme="HTTP", http_headers=[k8s.V1HTTPHeader(name="h", value="v")]), period_seconds=10),
                    readiness_probe=k8s.V1Probe(tcp_socket=k8s.V1TCPSocketAction(port="http"), initial_delay_seconds=1, timeout_seconds=1, success_threshold=1, failure_threshold=3),
                    startup_probe=k8s.V1Probe(_exec=k8s.V1ExecAction(command=["true"])),
                    image_pull_policy="IfNotPresent", termination_message_path="/dev/termination-log", termination_message_policy="File",
                    stdin=True,
                )
            ],
            init_containers=[k8s.V1Container(name="init", image="busybox", liveness_probe=None)],
            restart_policy="Always", node_name="n1", node_selector={"disk": "ssd"},
            affinity=k8s.V1Affinity(node_affinity=k8s.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(node_selector_terms=[
                    k8s.V1NodeSelectorTerm(match_expressions=[k8s.V1NodeSelectorRequirement(key="a", operator="In", values=["b"])],
                                           match_fields=[k8s.V1NodeSelectorRequirement(key="metadata.name", operator="In", values=["n1"])])]),
                preferred_during_scheduling_ignored_during_execution=[k8s.V1PreferredSchedulingTerm(weight=1, preference=k8s.V1NodeSelectorTerm())],
            )),
            tolerations=[k8s.V1Toleration(key="k", operator="Exists", effect="NoExecute", toleration_seconds=5)],
            termination_grace_period_seconds=30, active_deadline_seconds=100,
            volumes=[k8s.V1Volume(name="d", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit="1Gi")),
                     k8s.V1Volume(name="h", host_path=k8s.V1HostPathVolumeSource(path="/tmp", type="Directory")),
                     k8s.V1Volume(name="c", config_map=k8s.V1ConfigMapVolumeSource(name="cm"))],
            scheduler_name="default-scheduler", priority=0, host_network=False, hostname="h", subdomain="s",
            service_account_name="default", dns_policy="ClusterFirst", overhead={"cpu": "10m"},
            security_context=k8s.V1PodSecurityContext(run_as_user=1000),
        ),
        status=k8s.V1PodStatus(
            phase="Running", message="m", reason="r", host_ip="10.0.0.1", pod_ip="172.17.0.2",
            host_ips=[k8s.V1HostIP(ip="10.0.0.1")], pod_ips=[k8s.V1PodIP(ip="172.17.0.2")],
            start_time="2026-01-01T00:00:00Z", qos_class="Burstable", nominated_node_name="n2",
            conditions=[k8s.V1PodCondition(type="Ready", status="True", last_probe_time=None, last_transition_time="2026-01-01T00:00:00Z")],
            container_statuses=[k8s.V1ContainerStatus(
                name="web", ready=True, restart_count=2, image="nginx", image_id="docker://sha", container_id="docker://abc", started=True,
                state=k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at="2026-01-01T00:00:00Z")),
                last_state=k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=1, signal=9, reason="Error", message="x", started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z", container_id="docker://old")),
            )],
            init_container_statuses=[k8s.V1ContainerStatus(name="init", ready=False, restart_count=0, image="busybox", image_id="",
                                                            state=k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="PodInitializing")))],
        ),
    )
    return _official(pod)


def test_official_pod_round_trips_exactly() -> None:
    d = full_pod()
    assert m.Pod.from_dict(copy.deepcopy(d)).to_dict() == d


def test_official_pod_fields_are_typed_not_extra() -> None:
    """The fields the issue names land in our typed fields (so their aliases are right)."""
    p = m.Pod.from_dict(full_pod())
    c = p.spec.containers[0]
    assert c.liveness_probe is not None and c.liveness_probe.http_get is not None
    assert c.liveness_probe.http_get.http_headers is not None
    assert c.startup_probe is not None and c.startup_probe.exec is not None
    assert c.ports is not None and c.ports[0].host_ip == "0.0.0.0"
    assert c.env is not None and c.env[1].value_from == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert p.spec.overhead == {"cpu": "10m"}
    assert p.spec.active_deadline_seconds == 100
    na = p.spec.affinity.node_affinity if p.spec.affinity else None
    assert na is not None and na.required_during_scheduling_ignored_during_execution is not None
    assert p.status is not None and p.status.pod_ips is not None and p.status.host_ips is not None
    cs = p.status.container_statuses[0] if p.status.container_statuses else None
    assert cs is not None and cs.image_id == "docker://sha" and cs.container_id == "docker://abc"
    assert cs.last_state and cs.last_state.terminated and cs.last_state.terminated.exit_code == 1
    assert p.metadata.owner_references and p.metadata.owner_references[0].block_owner_deletion


def test_official_node_deployment_event_lease_round_trip() -> None:
    node = _official(k8s.V1Node(
        api_version="v1", kind="Node", metadata=k8s.V1ObjectMeta(name="n1"),
        spec=k8s.V1NodeSpec(pod_cidr="10.0.0.0/24", pod_cidrs=["10.0.0.0/24"], provider_id="p", unschedulable=True,
                            taints=[k8s.V1Taint(key="k", value="v", effect="NoSchedule", time_added="2026-01-01T00:00:00Z")]),
        status=k8s.V1NodeStatus(
            capacity={"cpu": "2"}, allocatable={"cpu": "1900m"}, phase="Running",
            addresses=[k8s.V1NodeAddress(type="InternalIP", address="10.0.0.1")],
            conditions=[k8s.V1NodeCondition(type="Ready", status="True", last_heartbeat_time="2026-01-01T00:00:00Z", reason="KubeletReady")],
            daemon_endpoints=k8s.V1NodeDaemonEndpoints(kubelet_endpoint=k8s.V1DaemonEndpoint(port=10250)),
            node_info=k8s.V1NodeSystemInfo(machine_id="m", system_uuid="s", boot_id="b", kernel_version="k", os_image="o",
                                           container_runtime_version="docker://20", kubelet_version="v1", kube_proxy_version="v1",
                                           operating_system="linux", architecture="amd64"),
        ),
    ))
    n = m.Node.from_dict(copy.deepcopy(node))
    assert n.to_dict() == node
    assert n.spec and n.spec.pod_cidrs == ["10.0.0.0/24"]
    assert n.status and n.status.node_info and n.status.node_info.machine_id == "m"
    assert n.status.daemon_endpoints and n.status.daemon_endpoints.kubelet_endpoint
    assert n.status.daemon_endpoints.kubelet_endpoint.port == 10250

    dep = _official(k8s.V1Deployment(
        api_version="apps/v1", kind="Deployment", metadata=k8s.V1ObjectMeta(name="d", namespace="default"),
        spec=k8s.V1DeploymentSpec(
            replicas=3, selector=k8s.V1LabelSelector(match_labels={"a": "b"}, match_expressions=[k8s.V1LabelSelectorRequirement(key="x", operator="Exists")]),
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"a": "b"}), spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="i")])),
            strategy=k8s.V1DeploymentStrategy(type="RollingUpdate", rolling_update=k8s.V1RollingUpdateDeployment(max_surge=1, max_unavailable="25%")),
            min_ready_seconds=1, revision_history_limit=10, paused=False, progress_deadline_seconds=600),
        status=k8s.V1DeploymentStatus(observed_generation=1, replicas=3, updated_replicas=3, ready_replicas=3, available_replicas=3,
                                      unavailable_replicas=0, collision_count=0,
                                      conditions=[k8s.V1DeploymentCondition(type="Available", status="True", last_update_time="2026-01-01T00:00:00Z")]),
    ))
    d = m.Deployment.from_dict(copy.deepcopy(dep))
    assert d.to_dict() == dep
    assert d.spec.strategy and d.spec.strategy.rolling_update
    assert d.spec.strategy.rolling_update.max_surge == 1 and d.spec.strategy.rolling_update.max_unavailable == "25%"

    ev = _official(k8s.CoreV1Event(
        api_version="v1", kind="Event", metadata=k8s.V1ObjectMeta(name="e", namespace="default"),
        involved_object=k8s.V1ObjectReference(api_version="v1", kind="Pod", name="p", namespace="default", uid="u", resource_version="1", field_path="spec.containers{c}"),
        reason="Started", message="m", source=k8s.V1EventSource(component="kubelet", host="n1"),
        first_timestamp="2026-01-01T00:00:00Z", last_timestamp="2026-01-01T00:00:00Z", count=2, type="Normal",
        event_time="2026-01-01T00:00:00.000000Z", reporting_component="kubelet", reporting_instance="n1", action="Start",
        related=k8s.V1ObjectReference(kind="Node", name="n1"), series=k8s.CoreV1EventSeries(count=2, last_observed_time="2026-01-01T00:00:00.000000Z"),
    ))
    e = m.Event.from_dict(copy.deepcopy(ev))
    assert e.to_dict() == ev
    assert e.series and e.series.count == 2 and e.related and e.related.kind == "Node"

    lease = _official(k8s.V1Lease(api_version="coordination.k8s.io/v1", kind="Lease", metadata=k8s.V1ObjectMeta(name="l", namespace="kube-node-lease"),
                                  spec=k8s.V1LeaseSpec(holder_identity="n1", lease_duration_seconds=40, acquire_time="2026-01-01T00:00:00.000000Z",
                                                       renew_time="2026-01-01T00:00:00.000000Z", lease_transitions=1)))
    assert m.Lease.from_dict(copy.deepcopy(lease)).to_dict() == lease

    rs = _official(k8s.V1ReplicaSet(api_version="apps/v1", kind="ReplicaSet", metadata=k8s.V1ObjectMeta(name="r", namespace="default"),
                                    spec=k8s.V1ReplicaSetSpec(replicas=1, min_ready_seconds=0, selector=k8s.V1LabelSelector(match_labels={"a": "b"})),
                                    status=k8s.V1ReplicaSetStatus(replicas=1, fully_labeled_replicas=1, ready_replicas=1, available_replicas=1, observed_generation=1)))
    assert m.ReplicaSet.from_dict(copy.deepcopy(rs)).to_dict() == rs

    scale = _official(k8s.V1Scale(api_version="autoscaling/v1", kind="Scale", metadata=k8s.V1ObjectMeta(name="d", namespace="default"),
                                  spec=k8s.V1ScaleSpec(replicas=2), status=k8s.V1ScaleStatus(replicas=1, selector="a=b")))
    assert m.Scale.from_dict(copy.deepcopy(scale)).to_dict() == scale

    binding = _official(k8s.V1Binding(api_version="v1", kind="Binding", metadata=k8s.V1ObjectMeta(name="p"),
                                      target=k8s.V1ObjectReference(api_version="v1", kind="Node", name="n1")))
    assert m.Binding.from_dict(copy.deepcopy(binding)).to_dict() == binding

    status = _official(k8s.V1Status(api_version="v1", kind="Status", metadata=k8s.V1ListMeta(), status="Failure", message="m", reason="Invalid", code=422,
                                    details=k8s.V1StatusDetails(name="p", group="", kind="pods", uid="u", retry_after_seconds=1,
                                                                causes=[k8s.V1StatusCause(reason="FieldValueRequired", message="Required value", field="spec")])))
    assert m.Status.from_dict(copy.deepcopy(status)).to_dict() == status


# Unknown keys at several depths; they must all survive a round trip.
UNKNOWN_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "futureTopLevel": {"x": [1, 2, {"y": None}]},
    "metadata": {"name": "p", "namespace": "default", "selfLink": "/x", "futureMeta": 1,
                 "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "n", "uid": "u", "futureRef": True}]},
    "spec": {
        "futureSpec": "s",
        "enableServiceLinks": False,
        "containers": [{
            "name": "c", "image": "i", "futureContainer": {"deep": {"deeper": "v"}},
            "livenessProbe": {"exec": {"command": ["x"], "futureExec": 1}, "futureProbe": 2},
            "resources": {"requests": {"cpu": "1"}, "claims": [{"name": "gpu"}]},
            "securityContext": {"privileged": False},
        }],
        "volumes": [{"name": "v", "emptyDir": {}, "futureVolume": 1}],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}},
    },
    "status": {"phase": "Running", "futureStatus": 1,
               "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                      "state": {"running": {"startedAt": "t", "futureRunning": 1}},
                                      "resources": {"limits": {"cpu": "1"}}}],
               "conditions": [{"type": "Ready", "status": "True", "futureCondition": "x"}]},
}


def test_unknown_fields_survive_round_trip() -> None:
    p = m.Pod.from_dict(copy.deepcopy(UNKNOWN_POD))
    assert p.to_dict() == UNKNOWN_POD
    # and a copy, a change elsewhere, and a second round trip keep them
    q = p.copy_deep()
    q.spec.node_name = "n1"
    out = m.Pod.from_dict(q.to_dict()).to_dict()
    assert out["spec"]["nodeName"] == "n1"
    del out["spec"]["nodeName"]
    assert out == UNKNOWN_POD
    assert p.spec.node_name is None  # the deep copy did not share


def test_unknown_fields_in_deployment_template() -> None:
    d = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}, "futureSel": 1},
                 "template": {"metadata": {"labels": {"a": "b"}, "futureTmplMeta": 1},
                              "spec": {"containers": [{"name": "c", "image": "i", "futureC": 1}]}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "futureRU": 1}}},
        "status": {"terminatingReplicas": 0},
    }
    assert m.Deployment.from_dict(copy.deepcopy(d)).to_dict() == d


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, "2"), (0.5, "0.5"), (1.0, "1"), ("500m", "500m"), (1e-05, "1e-05")],
)
def test_numeric_quantities_become_strings(value: Any, expected: str) -> None:
    """YAML ``cpu: 2`` arrives as a number; Kubernetes accepts it and stores a string."""
    p = m.Pod.from_dict({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "i", "resources": {"limits": {"cpu": value}, "requests": {"memory": value}}}]}})
    res = p.spec.containers[0].resources
    assert res is not None and res.limits == {"cpu": expected} and res.requests == {"memory": expected}
    node = m.Node.from_dict({"metadata": {"name": "n"}, "status": {"capacity": {"pods": value}}})
    assert node.status and node.status.capacity == {"pods": expected}


def test_bool_quantity_rejected() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        m.Pod.from_dict({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"limits": {"cpu": True}}}]}})


def test_intorstring_keeps_type() -> None:
    ru = m.RollingUpdateDeployment.from_dict({"maxSurge": 1, "maxUnavailable": "25%"})
    assert ru.max_surge == 1 and ru.max_unavailable == "25%"
    assert ru.to_dict() == {"maxSurge": 1, "maxUnavailable": "25%"}
