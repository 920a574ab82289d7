"""Wiring: a kubelet (or N hollow ones) with its client, informer, node agent and server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from api.models import Node, Pod, TypedObject
from client.config import ClientConfig
from client.events import EventRecorder
from client.informer import Informer
from client.rest import AsyncClient
from client.tasks import cancel_and_wait
from kubelet.auth import AuthConfig, KubeletAuth
from kubelet.kubelet import Kubelet, KubeletConfig
from kubelet.metrics import KubeletMetrics, gauge
from kubelet.node import NodeAgent
from kubelet.runtime.base import ContainerRuntime
from kubelet.server import serve, serve_healthz

log = logging.getLogger(__name__)

EventSink = Callable[[TypedObject, str, str, str, str | None], None]


def make_event_sink(client: AsyncClient, host: str) -> tuple[EventSink, EventRecorder]:
    """An event function writing through the client's EventRecorder (never blocking)."""
    recorder = EventRecorder(client, component="kubelet", host=host)

    def sink(obj: TypedObject, type_: str, reason: str, message: str,
             field_path: str | None = None) -> None:
        recorder.event(obj, type_, reason, message, field_path=field_path)
    return sink, recorder


def _node_event_fn(sink: EventSink | None) -> Callable[[Node, str, str, str], None] | None:
    if sink is None:
        return None
    return lambda o, t, r, m: sink(o, t, r, m, None)


def pod_handlers(route: Callable[[Pod], Kubelet | None]) -> dict[str, Callable[..., None]]:
    """Informer handlers dispatching each pod to the kubelet of its node."""
    def add(pod: Pod) -> None:
        kl = route(pod)
        if kl is not None:
            kl.on_pod(pod)

    def update(old: Pod, new: Pod) -> None:
        kl = route(new)
        if kl is not None:
            kl.on_pod(new)
        old_kl = route(old)
        if old_kl is not None and old_kl is not kl:
            old_kl.on_pod_deleted(old)

    def delete(pod: Pod) -> None:
        kl = route(pod)
        if kl is not None:
            kl.on_pod_deleted(pod)
    return {"on_add": add, "on_update": update, "on_delete": delete}


class KubeletAgent:
    """One or many kubelets in this process, sharing one API client and one pod informer."""

    def __init__(self, server: str | ClientConfig, runtime_factory: Callable[[str], ContainerRuntime],
                 config: KubeletConfig, fake_nodes: int = 0, bind_address: str = "0.0.0.0",
                 serve_http: bool = True, events: bool = True, auth: AuthConfig | None = None,
                 tls: ssl.SSLContext | None = None,
                 healthz: tuple[str, int] | None = None) -> None:
        self.server = server
        self.config = config
        self.runtime_factory = runtime_factory
        self.fake_nodes = fake_nodes
        self.bind_address = bind_address
        self.serve_http = serve_http
        self.events = events
        self.auth = auth
        self.tls = tls
        self.healthz = healthz
        self._healthz_runner: web.AppRunner | None = None
        self.client: AsyncClient | None = None
        self.kubelets: dict[str, Kubelet] = {}
        self.node_agents: list[NodeAgent] = []
        self.informer: Informer[Pod] | None = None
        self.node_informer: Informer[Node] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._recorders: list[EventRecorder] = []
        self.metrics = KubeletMetrics()
        self.metrics.add_collector(self._collect)

    def _collect(self) -> Iterable[Metric]:
        pods: dict[str, dict[str, int]] = {}
        for name, kl in self.kubelets.items():
            for phase, n in kl.phase_counts().items():
                pods.setdefault(phase, {})[name] = n
        g = GaugeMetricFamily("kubelet_pods", "Pods on the node by phase", labels=["node", "phase"])
        for phase, by_node in pods.items():
            for node, n in by_node.items():
                g.add_metric([node, phase], n)
        yield g
        yield gauge("kubelet_runtime_ready", "1 when the container runtime answers",
                    {n: float(kl.runtime_ready) for n, kl in self.kubelets.items()})

    async def start(self) -> None:
        self.client = (AsyncClient(config=self.server) if isinstance(self.server, ClientConfig)
                       else AsyncClient(self.server))
        names = ([f"{self.config.node_name}-{i}" for i in range(self.fake_nodes)]
                 if self.fake_nodes else [self.config.node_name])
        hollow = self.fake_nodes > 0
        for name in names:
            # One recorder per node, so that an event's source.host is its own node, hollow
            # ones included (a recorder's writer task starts with its first event).
            sink: EventSink | None = None
            if self.events:
                sink, recorder = make_event_sink(self.client, name)
                self._recorders.append(recorder)
            cfg = replace(self.config, node_name=name)
            kl = Kubelet(self.client, self.runtime_factory(name), cfg, event_fn=sink,
                         metrics=self.metrics)
            self.kubelets[name] = kl
            self.node_agents.append(NodeAgent(self.client, kl, hollow=hollow,
                                              event_fn=_node_event_fn(sink)))
        for i, na in enumerate(self.node_agents):
            self._tasks.append(asyncio.create_task(self._stagger(na, i), name=f"node-{na.name}"))
        # One watch for the whole process: a single node watches only its pods; hollow
        # nodes share a watch of every pod and route by spec.nodeName.
        selector = None if hollow else f"spec.nodeName={self.config.node_name}"
        self.informer = Informer(self.client, Pod, field_selector=selector)
        self.informer.add_handler(**pod_handlers(lambda p: self.kubelets.get(p.spec.node_name or "")))
        for kl in self.kubelets.values():
            kl.start()
        await self.informer.start()
        # Our own Node(s), so that conditions rewritten by someone else (Unknown after an
        # outage) are put right at once rather than at the next status interval.
        agents = {na.name: na for na in self.node_agents}
        self.node_informer = Informer(
            self.client, Node,
            label_selector="minik8s.io/hollow=true" if hollow else None,
            field_selector=None if hollow else f"metadata.name={self.config.node_name}")

        def observe(node: Node) -> None:
            na = agents.get(node.metadata.name or "")
            if na is not None:
                na.observe(node)
        self.node_informer.add_handler(on_add=observe, on_update=lambda _old, new: observe(new))
        await self.node_informer.start()
        self._tasks.append(asyncio.create_task(self._mark_synced(), name="informer-sync"))
        if self.serve_http:
            first = next(iter(self.kubelets.values()))
            client = self.client

            async def post(path: str, body: dict[str, Any]) -> Any:
                return await client.request("POST", path, json=body)
            auth = KubeletAuth(self.auth, first.node_name, post) if self.auth else None
            self._runner = await serve(first, self.bind_address, self.config.port, self.metrics,
                                       self.kubelets, auth=auth, ssl_context=self.tls)
            if self.healthz is not None:
                self._healthz_runner = await serve_healthz(*self.healthz)

    async def _stagger(self, na: NodeAgent, i: int) -> None:
        offset = 0.0
        if self.fake_nodes:
            offset = (i % 100) * na.lease_interval / max(1, min(100, self.fake_nodes))
        await na.run(heartbeat_offset=offset)

    async def _mark_synced(self) -> None:
        assert self.informer is not None
        await self.informer.wait_for_sync()
        for kl in self.kubelets.values():
            kl.mark_synced()

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        if self.informer is not None:
            await self.informer.stop()
        if self.node_informer is not None:
            await self.node_informer.stop()
        for kl in self.kubelets.values():
            await kl.stop()
            with contextlib.suppress(Exception):
                await kl.runtime.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._healthz_runner is not None:
            await self._healthz_runner.cleanup()
        await asyncio.gather(*(r.close() for r in self._recorders), return_exceptions=True)
        if self.client is not None:
            await self.client.close()
