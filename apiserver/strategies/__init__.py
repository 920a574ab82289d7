"""Per-kind strategies: everything the generic registry needs to know about a kind.

After kube-apiserver, where each kind's REST storage is the generic store plus a
strategy (RESTCreateStrategy, RESTUpdateStrategy, RESTDeleteStrategy, a
TableConvertor and the fields it selects on). ``base.Strategy`` holds the default
rules; a kind's strategy overrides what differs. The registry, the Table
conversion and the field selectors look a strategy up with ``strategy_for(info)``
(one dict get) and never switch on a kind.

Adding a kind is:
1. a model in ``api/models/`` and its ``ResourceInfo`` in ``api/resources.py``;
2. a strategy here (a subclass of ``Strategy`` in the module of its group or kind:
   status subresource, generation, create/update preparation, deletion policy,
   Table columns and rows), registered in ``_STRATEGIES`` below;
3. its validation in ``api/validation`` (called through ``admission``), and the
   fields it selects on in ``api/fields.py``.
A served kind without a strategy fails at import, not on its first request.
"""

from __future__ import annotations

from api import resources
from api.resources import ResourceInfo
from apiserver.strategies.apiextensions import CustomResourceDefinitionStrategy
from apiserver.strategies.apps import (
    ControllerRevisionStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)
from apiserver.strategies.autoscaling import HorizontalPodAutoscalerStrategy
from apiserver.strategies.base import Strategy
from apiserver.strategies.batch import CronJobStrategy, JobStrategy
from apiserver.strategies.certificates import CertificateSigningRequestStrategy
from apiserver.strategies.componentstatus import ComponentStatusStrategy
from apiserver.strategies.config import ConfigMapStrategy, SecretStrategy
from apiserver.strategies.coordination import LeaseStrategy
from apiserver.strategies.discovery import EndpointSliceStrategy
from apiserver.strategies.event import EventStrategy
from apiserver.strategies.namespace import NamespaceStrategy
from apiserver.strategies.networking import IngressClassStrategy, IngressStrategy
from apiserver.strategies.networkpolicy import NetworkPolicyStrategy
from apiserver.strategies.node import NodeStrategy
from apiserver.strategies.pod import PodStrategy
from apiserver.strategies.policy import PodDisruptionBudgetStrategy
from apiserver.strategies.quota import LimitRangeStrategy, ResourceQuotaStrategy
from apiserver.strategies.rbac import ReviewStrategy, RoleBindingStrategy, RoleStrategy
from apiserver.strategies.replicationcontroller import ReplicationControllerStrategy
from apiserver.strategies.service import EndpointsStrategy, ServiceStrategy
from apiserver.strategies.serviceaccount import ServiceAccountStrategy
from apiserver.strategies.storage import (
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
    StorageClassStrategy,
)

__all__ = ["Strategy", "strategy_for"]

_STRATEGIES: tuple[Strategy, ...] = (
    PodStrategy(resources.PODS),
    NodeStrategy(resources.NODES),
    NamespaceStrategy(resources.NAMESPACES),
    EventStrategy(resources.EVENTS),
    DeploymentStrategy(resources.DEPLOYMENTS),
    ReplicaSetStrategy(resources.REPLICASETS),
    DaemonSetStrategy(resources.DAEMONSETS),
    ControllerRevisionStrategy(resources.CONTROLLERREVISIONS),
    StatefulSetStrategy(resources.STATEFULSETS),
    JobStrategy(resources.JOBS),
    CronJobStrategy(resources.CRONJOBS),
    LeaseStrategy(resources.LEASES),
    ConfigMapStrategy(resources.CONFIGMAPS),
    SecretStrategy(resources.SECRETS),
    ServiceStrategy(resources.SERVICES),
    EndpointsStrategy(resources.ENDPOINTS),
    EndpointSliceStrategy(resources.ENDPOINTSLICES),
    ComponentStatusStrategy(resources.COMPONENTSTATUSES),
    HorizontalPodAutoscalerStrategy(resources.HORIZONTALPODAUTOSCALERS),
    ReplicationControllerStrategy(resources.REPLICATIONCONTROLLERS),
    RoleStrategy(resources.ROLES),
    RoleStrategy(resources.CLUSTERROLES),
    RoleBindingStrategy(resources.ROLEBINDINGS),
    RoleBindingStrategy(resources.CLUSTERROLEBINDINGS),
    ReviewStrategy(resources.SUBJECTACCESSREVIEWS),
    ReviewStrategy(resources.SELFSUBJECTACCESSREVIEWS),
    ReviewStrategy(resources.LOCALSUBJECTACCESSREVIEWS),
    ReviewStrategy(resources.SELFSUBJECTRULESREVIEWS),
    ServiceAccountStrategy(resources.SERVICEACCOUNTS),
    ResourceQuotaStrategy(resources.RESOURCEQUOTAS),
    LimitRangeStrategy(resources.LIMITRANGES),
    PersistentVolumeStrategy(resources.PERSISTENTVOLUMES),
    PersistentVolumeClaimStrategy(resources.PERSISTENTVOLUMECLAIMS),
    StorageClassStrategy(resources.STORAGECLASSES),
    ReviewStrategy(resources.TOKENREVIEWS),
    ReviewStrategy(resources.SELFSUBJECTREVIEWS),
    PodDisruptionBudgetStrategy(resources.PODDISRUPTIONBUDGETS),
    NetworkPolicyStrategy(resources.NETWORKPOLICIES),
    IngressStrategy(resources.INGRESSES),
    IngressClassStrategy(resources.INGRESSCLASSES),
    CustomResourceDefinitionStrategy(resources.CUSTOMRESOURCEDEFINITIONS),
    CertificateSigningRequestStrategy(resources.CERTIFICATESIGNINGREQUESTS),
)

# Keyed by plural, the resource's identity in storage (/registry/<plural>/...).
_BY_PLURAL: dict[str, Strategy] = {s.info.plural: s for s in _STRATEGIES}

_missing = [r.plural for r in resources.ALL if r.plural not in _BY_PLURAL]
if _missing:
    raise RuntimeError(f"served resources without a strategy: {', '.join(_missing)}")


def strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of a served resource."""
    return _BY_PLURAL[info.storage_resource]


def register(strategy: Strategy) -> None:
    """Serve a kind defined at run time (a custom resource, apiserver/crd) by this strategy."""
    _BY_PLURAL[strategy.info.storage_resource] = strategy


def unregister(info: ResourceInfo) -> None:
    if info.storage_resource not in {r.plural for r in resources.ALL}:
        _BY_PLURAL.pop(info.storage_resource, None)
