"""core/v1 kinds: Namespace, Node, Pod, Event, Binding, ConfigMap, Secret, Service, Endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from api.base import Int32, Model
from api.models.meta import Condition, ListMeta, ObjectMeta

IntOrString = int | str


def _quantity_string(v: object) -> object:
    """YAML ``cpu: 2`` arrives as a number; Kubernetes accepts it and stores a string."""
    if isinstance(v, bool):
        return v  # left for pydantic to reject
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return v


# A resource quantity on the wire: always a string ("500m", "1Gi"), numbers accepted on input.
Quantity = Annotated[str, BeforeValidator(_quantity_string)]
ResourceList = dict[str, Quantity]


class TypedObject(Model):
    """An object with apiVersion, kind and metadata."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


# ---- Namespace -------------------------------------------------------------


class NamespaceSpec(Model):
    finalizers: list[str] | None = None


class NamespaceStatus(Model):
    phase: str | None = None
    conditions: list[Condition] | None = None


class Namespace(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Namespace"
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# ---- Node ------------------------------------------------------------------


class Taint(Model):
    key: str
    value: str | None = None
    effect: str
    time_added: str | None = None


class NodeSpec(Model):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None
    pod_cidr: str | None = Field(default=None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(default=None, alias="podCIDRs")
    provider_id: str | None = Field(default=None, alias="providerID")


class NodeAddress(Model):
    type: str
    address: str


class NodeSystemInfo(Model):
    machine_id: str | None = Field(default=None, alias="machineID")
    system_uuid: str | None = Field(default=None, alias="systemUUID")
    boot_id: str | None = Field(default=None, alias="bootID")
    kernel_version: str | None = None
    os_image: str | None = None
    container_runtime_version: str | None = None
    kubelet_version: str | None = None
    kube_proxy_version: str | None = None
    operating_system: str | None = None
    architecture: str | None = None


class DaemonEndpoint(Model):
    port: Int32 = Field(alias="Port")


class NodeDaemonEndpoints(Model):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeStatus(Model):
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    conditions: list[Condition] | None = None
    addresses: list[NodeAddress] | None = None
    node_info: NodeSystemInfo | None = None
    daemon_endpoints: NodeDaemonEndpoints | None = None
    phase: str | None = None


class Node(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Node"
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


# ---- Pod -------------------------------------------------------------------


class EnvVar(Model):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None  # fieldRef / configMapKeyRef / ... kept as sent


class ConfigMapEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


class ContainerPort(Model):
    container_port: Int32
    host_port: Int32 | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    name: str | None = None
    protocol: str | None = None


class ResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None


class ExecAction(Model):
    command: list[str] | None = None


class HTTPHeader(Model):
    name: str
    value: str


class HTTPGetAction(Model):
    path: str | None = None
    port: IntOrString
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: IntOrString
    host: str | None = None


class GRPCAction(Model):
    port: Int32
    service: str | None = None


class Probe(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: Int32 | None = None
    period_seconds: Int32 | None = None
    timeout_seconds: Int32 | None = None
    success_threshold: Int32 | None = None
    failure_threshold: Int32 | None = None
    termination_grace_period_seconds: int | None = None


class VolumeMount(Model):
    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None


class Container(Model):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    restart_policy: str | None = None  # "Always" on an init container makes it a sidecar
    stdin: bool | None = None  # keep a stdin open for kubectl attach (kubectl run -i)
    stdin_once: bool | None = None
    tty: bool | None = None
    security_context: dict[str, Any] | None = None  # capabilities, privileged, runAsUser...


class EphemeralContainer(Container):
    """A container added to a running pod through pods/ephemeralcontainers (kubectl
    debug): never restarted, no ports, probes, lifecycle or resources; with
    ``targetContainerName`` it shares that container's process namespace."""

    target_container_name: str | None = None


class EmptyDirVolumeSource(Model):
    medium: str | None = None
    size_limit: Quantity | None = None


class HostPathVolumeSource(Model):
    path: str
    type: str | None = None


class KeyToPath(Model):
    key: str
    path: str
    mode: Int32 | None = None


class ConfigMapVolumeSource(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: Int32 | None = None
    optional: bool | None = None


class SecretVolumeSource(Model):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: Int32 | None = None
    optional: bool | None = None


class ObjectFieldSelector(Model):
    api_version: str | None = None
    field_path: str


class DownwardAPIVolumeFile(Model):
    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: dict[str, Any] | None = None
    mode: Int32 | None = None


class DownwardAPIVolumeSource(Model):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: Int32 | None = None


class DownwardAPIProjection(Model):
    items: list[DownwardAPIVolumeFile] | None = None


class SecretProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ConfigMapProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    path: str
    audience: str | None = None
    expiration_seconds: int | None = None


class VolumeProjection(Model):
    secret: SecretProjection | None = None
    config_map: ConfigMapProjection | None = None
    downward_api: DownwardAPIProjection | None = Field(default=None, alias="downwardAPI")
    service_account_token: ServiceAccountTokenProjection | None = None


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] | None = None
    default_mode: Int32 | None = None


class Volume(Model):
    name: str
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = Field(default=None, alias="downwardAPI")


class NodeSelectorRequirement(Model):
    key: str
    operator: str
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(Model):
    weight: Int32
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class Affinity(Model):
    node_affinity: NodeAffinity | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class PodDNSConfigOption(Model):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(Model):
    """DNS parameters merged into the resolv.conf the dnsPolicy gives (PodDNSConfig)."""

    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class PodSpec(Model):
    containers: list[Container]
    init_containers: list[Container] | None = None
    restart_policy: str | None = None
    node_name: str | None = None
    node_selector: dict[str, str] | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    termination_grace_period_seconds: int | None = None
    active_deadline_seconds: int | None = None
    volumes: list[Volume] | None = None
    scheduler_name: str | None = None
    priority: Int32 | None = None
    priority_class_name: str | None = None
    host_network: bool | None = None
    hostname: str | None = None
    subdomain: str | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    dns_policy: str | None = None
    dns_config: PodDNSConfig | None = None
    overhead: ResourceList | None = None
    security_context: dict[str, Any] | None = None
    ephemeral_containers: list[EphemeralContainer] | None = None
    host_pid: bool | None = Field(default=None, alias="hostPID")
    host_ipc: bool | None = Field(default=None, alias="hostIPC")
    share_process_namespace: bool | None = None


class ContainerStateWaiting(Model):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(Model):
    started_at: str | None = None


class ContainerStateTerminated(Model):
    exit_code: Int32
    signal: Int32 | None = None
    reason: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(Model):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(Model):
    name: str
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool = False
    restart_count: Int32 = 0
    image: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    container_id: str | None = Field(default=None, alias="containerID")
    started: bool | None = None


class PodIP(Model):
    ip: str


class HostIP(Model):
    ip: str


class PodStatus(Model):
    phase: str | None = None
    conditions: list[Condition] | None = None
    message: str | None = None
    reason: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[HostIP] | None = Field(default=None, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(default=None, alias="podIPs")
    start_time: str | None = None
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    ephemeral_container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None
    nominated_node_name: str | None = None


class PodTemplateSpec(Model):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec


class Pod(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Pod"
    spec: PodSpec
    status: PodStatus | None = None


# ---- Event -----------------------------------------------------------------


class ObjectReference(Model):
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class EventSeries(Model):
    count: Int32 | None = None
    last_observed_time: str | None = None


class Event(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Event"
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    count: Int32 | None = None
    type: str | None = None
    event_time: str | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
    action: str | None = None
    related: ObjectReference | None = None
    series: EventSeries | None = None


# ---- ConfigMap and Secret ----------------------------------------------------


class ConfigMap(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "ConfigMap"
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None  # base64 on the wire ([]byte in Go)
    immutable: bool | None = None


class Secret(TypedObject):
    """``data`` values are base64 on the wire; ``string_data`` is write-only (the
    server merges it into ``data`` and never stores or returns it)."""

    api_version: str | None = "v1"
    kind: str | None = "Secret"
    type: str | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None


# ---- Service and Endpoints -----------------------------------------------------
# k8s.io/api/core/v1 types.go: Service, ServiceSpec, ServicePort, Endpoints. The IP
# fields keep Kubernetes' spelling (clusterIP, not clusterIp).


class ClientIPConfig(Model):
    timeout_seconds: Int32 | None = None


class SessionAffinityConfig(Model):
    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP")


class ServicePort(Model):
    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None
    port: Int32
    target_port: IntOrString | None = None
    node_port: Int32 | None = None


class ServiceSpec(Model):
    ports: list[ServicePort] | None = None
    selector: dict[str, str] | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs")
    type: str | None = None
    external_ips: list[str] | None = Field(default=None, alias="externalIPs")
    session_affinity: str | None = None
    session_affinity_config: SessionAffinityConfig | None = None
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = None
    load_balancer_class: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    external_name: str | None = None
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    health_check_node_port: Int32 | None = None
    publish_not_ready_addresses: bool | None = None
    ip_families: list[str] | None = None
    ip_family_policy: str | None = None


class PortStatus(Model):
    port: Int32
    protocol: str | None = None
    error: str | None = None


class LoadBalancerIngress(Model):
    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(Model):
    load_balancer: LoadBalancerStatus | None = None
    conditions: list[Condition] | None = None


class Service(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Service"
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus | None = None


class EndpointAddress(Model):
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(Model):
    name: str | None = None
    port: Int32
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(Model):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Endpoints"
    subsets: list[EndpointSubset] | None = None


# ---- ReplicationController -------------------------------------------------


class ReplicationControllerSpec(Model):
    """core/v1: a ReplicaSet's spec with an equality-only selector (a plain map)."""

    replicas: Int32 | None = None
    min_ready_seconds: Int32 | None = None
    selector: dict[str, str] | None = None
    template: PodTemplateSpec | None = None


class ReplicationControllerStatus(Model):
    replicas: Int32 = 0
    fully_labeled_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ReplicationController(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "ReplicationController"
    spec: ReplicationControllerSpec = Field(default_factory=ReplicationControllerSpec)
    status: ReplicationControllerStatus | None = None


# ---- Binding ---------------------------------------------------------------


class Binding(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "Binding"
    target: ObjectReference


class ObjectList(Model):
    """A list as the server returns it; items stay dicts until a client types them."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[dict[str, object]] = Field(default_factory=list)


PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
