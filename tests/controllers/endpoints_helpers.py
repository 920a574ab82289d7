"""Builders for the Endpoints and EndpointSlice controller tests: Services, pods with
container ports, and pods made Running/Ready (each with its own IP) through pods/status,
as a kubelet would; readers of Endpoints and slices."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from api import wellknown as wk
from api.models import Endpoints, Pod, PodStatus, Service
from api.models.discovery import EndpointSlice
from api.timeutil import format_time
from client import AsyncClient, NotFound


def service(name: str, *, selector: dict[str, str] | None = None,
            ports: list[dict[str, Any]] | None = None, cluster_ip: str | None = None,
            publish: bool = False) -> Service:
    spec: dict[str, Any] = {"ports": ports if ports is not None else
                            [{"name": "http", "port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    if publish:
        spec["publishNotReadyAddresses"] = True
    return Service.from_dict({"metadata": {"name": name, "labels": {"team": "t1"}},
                              "spec": spec})


def pod(name: str, *, labels: dict[str, str] | None = None, port: int = 8080,
        port_name: str = "web", hostname: str | None = None,
        subdomain: str | None = None) -> Pod:
    spec: dict[str, Any] = {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "nginx",
         "ports": [{"name": port_name, "containerPort": port}]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    return Pod.from_dict({"metadata": {"name": name, "labels": labels or {"app": "web"}},
                          "spec": spec})


def status(ip: str, ready: bool) -> PodStatus:
    now = format_time(datetime.now(UTC))
    flag = "True" if ready else "False"
    return PodStatus.from_dict({
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
        "conditions": [{"type": "Ready", "status": flag, "lastTransitionTime": now},
                       {"type": "ContainersReady", "status": flag, "lastTransitionTime": now}]})


async def set_status(client: AsyncClient, ns: str, name: str, ip: str, ready: bool) -> None:
    for _ in range(10):
        p = await client.get(Pod, name, ns)
        p.status = status(ip, ready)
        try:
            await client.update_status(p)
            return
        except Exception:  # a conflict: read again
            await asyncio.sleep(0.01)
    raise AssertionError(f"could not set the status of {name}")


async def run_pods(client: AsyncClient, ns: str, names: list[str], *, first_ip: int = 1,
                   ready: bool = True, **kw: Any) -> dict[str, str]:
    """Create the pods and make them Running (Ready or not) with IPs 10.244.x.y."""
    sem = asyncio.Semaphore(20)
    ips: dict[str, str] = {}

    async def one(i: int, name: str) -> None:
        n = first_ip + i
        ip = f"10.244.{n // 250}.{n % 250 + 1}"
        ips[name] = ip
        async with sem:
            await client.create(pod(name, **kw), ns)
            await set_status(client, ns, name, ip, ready)

    await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
    return ips


async def slices_of(client: AsyncClient, ns: str, svc: str) -> list[EndpointSlice]:
    return (await client.list(EndpointSlice, ns,
                              label_selector=f"{wk.LABEL_SERVICE_NAME}={svc}")).items


async def endpoints(client: AsyncClient, ns: str, name: str) -> Endpoints | None:
    try:
        return await client.get(Endpoints, name, ns)
    except NotFound:
        return None


def ready_ips(ep: Endpoints | None) -> set[str]:
    return {a.ip for s in (ep.subsets if ep else None) or () for a in s.addresses or ()}


def not_ready_ips(ep: Endpoints | None) -> set[str]:
    return {a.ip for s in (ep.subsets if ep else None) or ()
            for a in s.not_ready_addresses or ()}


def slice_ips(slices: list[EndpointSlice], ready: bool | None = None) -> set[str]:
    return {e.addresses[0] for s in slices for e in s.endpoints
            if ready is None or bool(e.conditions and e.conditions.ready) == ready}


async def when(aw: Any, ok: Any) -> Any:
    """The awaited value (True when it is empty) when ``ok(value)``, else None: a condition
    for async_wait_for."""
    value = await aw
    if ok(value):
        return value if value else True
    return None
