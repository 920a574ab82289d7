"""The registry of served kinds: one place that maps a kind to its REST path and model.

The API server routes by it, clients build URLs from it, and minictl resolves
short names through it, so the three can never disagree on a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.models import (
    ConfigMap,
    Deployment,
    Endpoints,
    EndpointSlice,
    Event,
    Lease,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Secret,
    Service,
)
from api.models.apiextensions import CustomResourceDefinition
from api.models.apps import ControllerRevision, DaemonSet, StatefulSet
from api.models.authentication import SelfSubjectReview, TokenReview
from api.models.authorization import (
    LocalSubjectAccessReview,
    SelfSubjectAccessReview,
    SelfSubjectRulesReview,
    SubjectAccessReview,
)
from api.models.autoscaling import HorizontalPodAutoscaler
from api.models.batch import CronJob, Job
from api.models.certificates import CertificateSigningRequest
from api.models.componentstatus import ComponentStatus
from api.models.core import ReplicationController, TypedObject
from api.models.networking import Ingress, IngressClass
from api.models.networkpolicy import NetworkPolicy
from api.models.policy import PodDisruptionBudget
from api.models.quota import LimitRange, ResourceQuota
from api.models.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from api.models.serviceaccount import ServiceAccount
from api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass


@dataclass(frozen=True)
class ResourceInfo:
    kind: str
    plural: str  # the path segment and the etcd key segment
    singular: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    model: type[TypedObject]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    list_kind: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_resource(self) -> str:
        """The resource's segment of its etcd keys and its key in the API server's per-kind
        tables (watch caches, strategies): the plural for a built-in kind; a custom
        resource's is ``<group>/<plural>``, as kube-apiserver stores it, so that it never
        meets a built-in plural or another group's."""
        return self.plural

    @property
    def group_resource(self) -> str:
        """What Kubernetes prints in messages: ``pods`` or ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """The path of the collection, all namespaces when ``namespace`` is None."""
        if self.namespaced and namespace is not None:
            return f"{self.base_path()}/namespaces/{namespace}/{self.plural}"
        return f"{self.base_path()}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"


def _info(**kw: object) -> ResourceInfo:
    info = ResourceInfo(**kw)  # type: ignore[arg-type]
    return ResourceInfo(**{**info.__dict__, "list_kind": info.kind + "List"})


PODS = _info(
    kind="Pod", plural="pods", singular="pod", group="", version="v1", namespaced=True,
    model=Pod, short_names=("po",), categories=("all",),
    subresources=("status", "binding", "ephemeralcontainers", "eviction", "log", "exec",
                  "attach", "portforward", "proxy"),
)
NODES = _info(
    kind="Node", plural="nodes", singular="node", group="", version="v1", namespaced=False,
    model=Node, short_names=("no",), subresources=("status", "proxy"),
)
NAMESPACES = _info(
    kind="Namespace", plural="namespaces", singular="namespace", group="", version="v1",
    namespaced=False, model=Namespace, short_names=("ns",), subresources=("status",),
)
EVENTS = _info(
    kind="Event", plural="events", singular="event", group="", version="v1", namespaced=True,
    model=Event, short_names=("ev",),
)
DEPLOYMENTS = _info(
    kind="Deployment", plural="deployments", singular="deployment", group="apps",
    version="v1", namespaced=True, model=Deployment, short_names=("deploy",),
    categories=("all",), subresources=("status", "scale"),
)
REPLICASETS = _info(
    kind="ReplicaSet", plural="replicasets", singular="replicaset", group="apps",
    version="v1", namespaced=True, model=ReplicaSet, short_names=("rs",),
    categories=("all",), subresources=("status", "scale"),
)
DAEMONSETS = _info(
    kind="DaemonSet", plural="daemonsets", singular="daemonset", group="apps", version="v1",
    namespaced=True, model=DaemonSet, short_names=("ds",), categories=("all",),
    subresources=("status",),
)
STATEFULSETS = _info(
    kind="StatefulSet", plural="statefulsets", singular="statefulset", group="apps",
    version="v1", namespaced=True, model=StatefulSet, short_names=("sts",),
    categories=("all",), subresources=("status", "scale"),
)
CONTROLLERREVISIONS = _info(
    kind="ControllerRevision", plural="controllerrevisions", singular="controllerrevision",
    group="apps", version="v1", namespaced=True, model=ControllerRevision,
)
JOBS = _info(
    kind="Job", plural="jobs", singular="job", group="batch", version="v1", namespaced=True,
    model=Job, categories=("all",), subresources=("status",),
)
CRONJOBS = _info(
    kind="CronJob", plural="cronjobs", singular="cronjob", group="batch", version="v1",
    namespaced=True, model=CronJob, short_names=("cj",), categories=("all",),
    subresources=("status",),
)
LEASES = _info(
    kind="Lease", plural="leases", singular="lease", group="coordination.k8s.io",
    version="v1", namespaced=True, model=Lease,
)
CONFIGMAPS = _info(
    kind="ConfigMap", plural="configmaps", singular="configmap", group="", version="v1",
    namespaced=True, model=ConfigMap, short_names=("cm",),
)
SECRETS = _info(
    kind="Secret", plural="secrets", singular="secret", group="", version="v1",
    namespaced=True, model=Secret,
)
RESOURCEQUOTAS = _info(
    kind="ResourceQuota", plural="resourcequotas", singular="resourcequota", group="",
    version="v1", namespaced=True, model=ResourceQuota, short_names=("quota",),
    subresources=("status",),
)
LIMITRANGES = _info(
    kind="LimitRange", plural="limitranges", singular="limitrange", group="", version="v1",
    namespaced=True, model=LimitRange, short_names=("limits",),
)
PERSISTENTVOLUMES = _info(
    kind="PersistentVolume", plural="persistentvolumes", singular="persistentvolume",
    group="", version="v1", namespaced=False, model=PersistentVolume, short_names=("pv",),
    subresources=("status",),
)
PERSISTENTVOLUMECLAIMS = _info(
    kind="PersistentVolumeClaim", plural="persistentvolumeclaims",
    singular="persistentvolumeclaim", group="", version="v1", namespaced=True,
    model=PersistentVolumeClaim, short_names=("pvc",), subresources=("status",),
)
# storage.k8s.io/v1: how volumes of a class are provisioned (controllers/volume.py).
STORAGECLASSES = _info(
    kind="StorageClass", plural="storageclasses", singular="storageclass",
    group="storage.k8s.io", version="v1", namespaced=False, model=StorageClass,
    short_names=("sc",),
)
SERVICEACCOUNTS = _info(
    kind="ServiceAccount", plural="serviceaccounts", singular="serviceaccount", group="",
    version="v1", namespaced=True, model=ServiceAccount, short_names=("sa",),
    subresources=("token",),
)
REPLICATIONCONTROLLERS = _info(
    kind="ReplicationController", plural="replicationcontrollers",
    singular="replicationcontroller", group="", version="v1", namespaced=True,
    model=ReplicationController, short_names=("rc",), categories=("all",),
    subresources=("status", "scale"),
)

SERVICES = _info(
    kind="Service", plural="services", singular="service", group="", version="v1",
    namespaced=True, model=Service, short_names=("svc",), categories=("all",),
    subresources=("status", "proxy"),
)
ENDPOINTS = _info(
    kind="Endpoints", plural="endpoints", singular="endpoints", group="", version="v1",
    namespaced=True, model=Endpoints, short_names=("ep",),
)
ENDPOINTSLICES = _info(
    kind="EndpointSlice", plural="endpointslices", singular="endpointslice",
    group="discovery.k8s.io", version="v1", namespaced=True, model=EndpointSlice,
)
# Computed on each read (apiserver/componentstatuses.py), never stored; get and list only.
COMPONENTSTATUSES = _info(
    kind="ComponentStatus", plural="componentstatuses", singular="componentstatus", group="",
    version="v1", namespaced=False, model=ComponentStatus, short_names=("cs",),
    verbs=("get", "list"),
)
HORIZONTALPODAUTOSCALERS = _info(
    kind="HorizontalPodAutoscaler", plural="horizontalpodautoscalers",
    singular="horizontalpodautoscaler", group="autoscaling", version="v2", namespaced=True,
    model=HorizontalPodAutoscaler, short_names=("hpa",), categories=("all",),
    subresources=("status",),
)

# policy/v1: how many of a set of pods voluntary disruptions (pods/eviction) may take down
# (controllers/disruption.py keeps the status).
PODDISRUPTIONBUDGETS = _info(
    kind="PodDisruptionBudget", plural="poddisruptionbudgets", singular="poddisruptionbudget",
    group="policy", version="v1", namespaced=True, model=PodDisruptionBudget,
    short_names=("pdb",), subresources=("status",),
)

# networking.k8s.io/v1: HTTP routing into the cluster (the ingress/ service programs nginx
# from them).
INGRESSES = _info(
    kind="Ingress", plural="ingresses", singular="ingress", group="networking.k8s.io",
    version="v1", namespaced=True, model=Ingress, short_names=("ing",),
    subresources=("status",),
)
INGRESSCLASSES = _info(
    kind="IngressClass", plural="ingressclasses", singular="ingressclass",
    group="networking.k8s.io", version="v1", namespaced=False, model=IngressClass,
)

# networking.k8s.io/v1: which pods may talk to which (proxy/netpol enforces them).
NETWORKPOLICIES = _info(
    kind="NetworkPolicy", plural="networkpolicies", singular="networkpolicy",
    group="networking.k8s.io", version="v1", namespaced=True, model=NetworkPolicy,
    short_names=("netpol",),
)

# rbac.authorization.k8s.io: who may do what (apiserver/auth/rbac.py reads them).
ROLES = _info(
    kind="Role", plural="roles", singular="role", group="rbac.authorization.k8s.io",
    version="v1", namespaced=True, model=Role,
)
CLUSTERROLES = _info(
    kind="ClusterRole", plural="clusterroles", singular="clusterrole",
    group="rbac.authorization.k8s.io", version="v1", namespaced=False, model=ClusterRole,
)
ROLEBINDINGS = _info(
    kind="RoleBinding", plural="rolebindings", singular="rolebinding",
    group="rbac.authorization.k8s.io", version="v1", namespaced=True, model=RoleBinding,
)
CLUSTERROLEBINDINGS = _info(
    kind="ClusterRoleBinding", plural="clusterrolebindings", singular="clusterrolebinding",
    group="rbac.authorization.k8s.io", version="v1", namespaced=False,
    model=ClusterRoleBinding,
)
# authorization.k8s.io: access reviews, answered on create and never stored (like every
# kind whose verbs are only "create": no watch cache, apiserver/routes/virtual.py).
SUBJECTACCESSREVIEWS = _info(
    kind="SubjectAccessReview", plural="subjectaccessreviews", singular="subjectaccessreview",
    group="authorization.k8s.io", version="v1", namespaced=False, model=SubjectAccessReview,
    verbs=("create",),
)
SELFSUBJECTACCESSREVIEWS = _info(
    kind="SelfSubjectAccessReview", plural="selfsubjectaccessreviews",
    singular="selfsubjectaccessreview", group="authorization.k8s.io", version="v1",
    namespaced=False, model=SelfSubjectAccessReview, verbs=("create",),
)
LOCALSUBJECTACCESSREVIEWS = _info(
    kind="LocalSubjectAccessReview", plural="localsubjectaccessreviews",
    singular="localsubjectaccessreview", group="authorization.k8s.io", version="v1",
    namespaced=True, model=LocalSubjectAccessReview, verbs=("create",),
)
SELFSUBJECTRULESREVIEWS = _info(
    kind="SelfSubjectRulesReview", plural="selfsubjectrulesreviews",
    singular="selfsubjectrulesreview", group="authorization.k8s.io", version="v1",
    namespaced=False, model=SelfSubjectRulesReview, verbs=("create",),
)
# authentication.k8s.io: answered on create, never stored (apiserver/routes/authentication.py).
TOKENREVIEWS = _info(
    kind="TokenReview", plural="tokenreviews", singular="tokenreview",
    group="authentication.k8s.io", version="v1", namespaced=False, model=TokenReview,
    verbs=("create",),
)
SELFSUBJECTREVIEWS = _info(
    kind="SelfSubjectReview", plural="selfsubjectreviews", singular="selfsubjectreview",
    group="authentication.k8s.io", version="v1", namespaced=False, model=SelfSubjectReview,
    verbs=("create",),
)

# apiextensions.k8s.io: kinds defined at run time (apiserver/crd serves them).
CUSTOMRESOURCEDEFINITIONS = _info(
    kind="CustomResourceDefinition", plural="customresourcedefinitions",
    singular="customresourcedefinition", group="apiextensions.k8s.io", version="v1",
    namespaced=False, model=CustomResourceDefinition, short_names=("crd", "crds"),
    categories=("api-extensions",), subresources=("status",),
)

# certificates.k8s.io/v1: certificates requested by CSR, approved through /approval and issued
# through /status by a signer (controllers/certificates*.py).
CERTIFICATESIGNINGREQUESTS = _info(
    kind="CertificateSigningRequest", plural="certificatesigningrequests",
    singular="certificatesigningrequest", group="certificates.k8s.io", version="v1",
    namespaced=False, model=CertificateSigningRequest, short_names=("csr",),
    subresources=("status", "approval"),
)

ALL: tuple[ResourceInfo, ...] = (
    PODS, NODES, NAMESPACES, EVENTS, DEPLOYMENTS, REPLICASETS, JOBS, LEASES, CONFIGMAPS, SECRETS,
    SERVICES, ENDPOINTS, ENDPOINTSLICES, COMPONENTSTATUSES,
    REPLICATIONCONTROLLERS,
    HORIZONTALPODAUTOSCALERS, CRONJOBS,
    DAEMONSETS, CONTROLLERREVISIONS, STATEFULSETS,
    ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS,
    SUBJECTACCESSREVIEWS, SELFSUBJECTACCESSREVIEWS, LOCALSUBJECTACCESSREVIEWS,
    SELFSUBJECTRULESREVIEWS,
    SERVICEACCOUNTS,
    RESOURCEQUOTAS, LIMITRANGES,
    TOKENREVIEWS, SELFSUBJECTREVIEWS,
    PODDISRUPTIONBUDGETS,
    NETWORKPOLICIES,
    INGRESSES, INGRESSCLASSES,
    PERSISTENTVOLUMES, PERSISTENTVOLUMECLAIMS, STORAGECLASSES,
    CUSTOMRESOURCEDEFINITIONS,
    CERTIFICATESIGNINGREQUESTS,
)

_BY_KIND = {r.kind: r for r in ALL}
_BY_MODEL = {r.model: r for r in ALL}


def by_kind(kind: str) -> ResourceInfo:
    return _BY_KIND[kind]


def for_model(model: type[TypedObject]) -> ResourceInfo:
    return _BY_MODEL[model]


# Kinds a client learned from the server's discovery (custom resources): lookup and
# for_model find them after the built-in ones.
_DISCOVERED: list[ResourceInfo] = []


def add_discovered(info: ResourceInfo) -> None:
    """Learn (or learn again: it may have changed) a kind of the server's."""
    for i, r in enumerate(_DISCOVERED):
        if (r.group, r.version, r.plural) == (info.group, info.version, info.plural):
            del _DISCOVERED[i]
            break
    _DISCOVERED.append(info)
    _BY_MODEL[info.model] = info


def discovered() -> tuple[ResourceInfo, ...]:
    return tuple(_DISCOVERED)


def lookup(name: str) -> ResourceInfo | None:
    """Resolve what a user types: plural, singular, short name, kind, or ``plural.group``."""
    n = name.lower()
    for r in (*ALL, *_DISCOVERED):
        if n in (r.plural, r.singular, r.kind.lower(), *r.short_names, r.group_resource):
            return r
        if r.group and n in (f"{r.singular}.{r.group}", f"{r.plural}.{r.version}.{r.group}",
                             f"{r.kind.lower()}.{r.group}",
                             *(f"{s}.{r.group}" for s in r.short_names)):
            return r
    return None
