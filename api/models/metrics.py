"""metrics.k8s.io/v1beta1: NodeMetrics and PodMetrics (k8s.io/metrics/pkg/apis/metrics/v1beta1).

Computed by the API server from the kubelets' /stats/summary (apiserver/metrics_api.py),
never stored; ``kubectl top``, ``minictl top`` and the HPA read them. ``usage`` maps a
resource name (cpu, memory) to a quantity string (``123456n``, ``2048Ki``); ``window`` is
a Go duration (``10.5s``), the interval the CPU rate was measured over.
"""

from __future__ import annotations

from api.base import Model
from api.models.core import TypedObject
from api.models.meta import ListMeta


class NodeMetrics(TypedObject):
    api_version: str | None = "metrics.k8s.io/v1beta1"
    kind: str | None = "NodeMetrics"
    timestamp: str | None = None
    window: str | None = None
    usage: dict[str, str] | None = None


class ContainerMetrics(Model):
    name: str | None = None
    usage: dict[str, str] | None = None


class PodMetrics(TypedObject):
    api_version: str | None = "metrics.k8s.io/v1beta1"
    kind: str | None = "PodMetrics"
    timestamp: str | None = None
    window: str | None = None
    containers: list[ContainerMetrics] | None = None


class NodeMetricsList(Model):
    api_version: str | None = "metrics.k8s.io/v1beta1"
    kind: str | None = "NodeMetricsList"
    metadata: ListMeta | None = None
    items: list[NodeMetrics] | None = None


class PodMetricsList(Model):
    api_version: str | None = "metrics.k8s.io/v1beta1"
    kind: str | None = "PodMetricsList"
    metadata: ListMeta | None = None
    items: list[PodMetrics] | None = None
