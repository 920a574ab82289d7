"""v1 ComponentStatus, computed on each read (kube-apiserver's componentstatus REST).

kube-apiserver probes etcd and the healthz ports of the scheduler and the controller-manager.
Here etcd-0 is this server's own etcd check (a read of the current revision within 2 s), and
the scheduler and the controller-manager are healthy when their leader Lease
(kube-system/minik8s-scheduler, kube-system/minik8s-controller-manager: scheduler/main.py,
controllers/main.py) is held and was renewed within its leaseDurationSeconds: a reasonable
stand-in for their /healthz, which may run on other hosts or not be served at all, while
a held and fresh lease says that a leader is running and working. Served read-only (get
and list, with Kubernetes' deprecation warning); a list is in Kubernetes' order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import resources
from api.timeutil import parse_time
from apiserver import errors
from apiserver.registry import Registry
from apiserver.storage import EtcdStorage

JSONDict = dict[str, Any]

WARNING = '299 - "v1 ComponentStatus is deprecated in v1.19+"'
LEASE_NAMESPACE = "kube-system"
LEASES = {"scheduler": "minik8s-scheduler", "controller-manager": "minik8s-controller-manager"}
NAMES = ("scheduler", "controller-manager", "etcd-0")


def _status(name: str, error: str | None) -> JSONDict:
    cond: JSONDict = {"type": "Healthy", "status": "True" if error is None else "False",
                      "message": "ok" if error is None else ""}
    if error is not None:
        cond["error"] = error
    return {"kind": "ComponentStatus", "apiVersion": "v1",
            "metadata": {"name": name}, "conditions": [cond]}


async def _etcd(storage: EtcdStorage) -> str | None:
    try:
        await asyncio.wait_for(storage.current_revision(), 2.0)
    except Exception as e:
        return f"error getting data from etcd: {e or type(e).__name__}"
    return None


async def _lease(reg: Registry, component: str, now: datetime) -> str | None:
    name = LEASES[component]
    where = f"{LEASE_NAMESPACE}/{name}"
    try:
        lease = (await asyncio.wait_for(
            reg.get(resources.LEASES, LEASE_NAMESPACE, name), 2.0)).obj
    except errors.ApiError as e:
        if e.code == 404:
            return f"no leader: the Lease {where} does not exist"
        return f"reading the Lease {where}: {e}"
    except Exception as e:
        return f"reading the Lease {where}: {e or type(e).__name__}"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return f"no leader: the Lease {where} is not held"
    renew = spec.get("renewTime") or spec.get("acquireTime")
    duration = float(spec.get("leaseDurationSeconds") or 15)
    try:
        age = (now - parse_time(renew)).total_seconds() if renew else None
    except ValueError:
        age = None
    if age is None or age > duration:
        when = f"{age:.0f}s ago" if age is not None else "never"
        return (f"the leader {holder} last renewed the Lease {where} {when} "
                f"(leaseDurationSeconds {duration:.0f})")
    return None


async def probe(state: Any, names: tuple[str, ...] = NAMES) -> list[JSONDict]:
    now = datetime.now(UTC)
    reg: Registry = state.registry

    async def one(name: str) -> JSONDict:
        if name == "etcd-0":
            return _status(name, await _etcd(state.storage))
        return _status(name, await _lease(reg, name, now))
    return list(await asyncio.gather(*(one(n) for n in names)))


def _json(body: JSONDict) -> Response:
    return Response(orjson.dumps(body), media_type="application/json",
                    headers={"Warning": WARNING})


async def serve(request: Request, name: str | None, watch: bool) -> Response:
    info = resources.COMPONENTSTATUSES
    m = "GET" if request.method == "HEAD" else request.method
    if m != "GET" or watch:
        raise errors.method_not_allowed("WATCH" if watch and m == "GET" else m)
    if name is None:
        items = await probe(request.app.state)
        return _json({"kind": info.list_kind, "apiVersion": "v1", "metadata": {},
                      "items": items})
    if name not in NAMES:
        raise errors.not_found(info, name)
    return _json((await probe(request.app.state, (name,)))[0])
