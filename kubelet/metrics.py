"""Prometheus metrics of the kubelet(s) in this process, served at ``/metrics``.

A collector reads the live state (pods, workers, containers by state) at scrape time,
so nothing is kept in step by hand; start latency and sync errors are counted as
they happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class KubeletMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pod_start = Histogram(
            "kubelet_pod_start_duration_seconds",
            "From the pod's worker starting to the pod's first Running status write",
            ["node"], registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.sync_errors = Counter("kubelet_pod_sync_errors_total", "Failed pod syncs",
                                   ["node"], registry=self.registry)
        self.restarts = Counter("kubelet_container_restarts_total",
                                "Containers started again (crash, probe, new sandbox)",
                                ["node"], registry=self.registry)

    def add_collector(self, fn: Callable[[], Iterable[Metric]]) -> None:
        class _C(Collector):
            def collect(self) -> Iterable[Metric]:
                return fn()
        self.registry.register(_C())

    def render(self) -> bytes:
        return generate_latest(self.registry)


def gauge(name: str, doc: str, values: dict[str, float]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["node"])
    for node, v in values.items():
        g.add_metric([node], v)
    return g
