"""The cluster view: the control plane's health, leader leases, and a few figures from the
API server's /metrics, all read with the signed-in user's credentials (what RBAC denies is
reported as denied)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from dashboard.sessions import Session

CHECKS = ("/readyz?verbose", "/livez?verbose")
METRICS = ("apiserver_request_total", "apiserver_request_duration_seconds_sum",
           "apiserver_request_duration_seconds_count", "etcd_object_counts",
           "apiserver_storage_objects", "apiserver_current_inflight_requests",
           "process_resident_memory_bytes", "process_cpu_seconds_total")


async def _get(s: Session, path: str, accept: str = "application/json") -> tuple[int, str]:
    try:
        async with s.http().get(s.config.server + path,
                                headers={**s.auth_headers(), "Accept": accept}) as r:
            return r.status, await r.text()
    except (aiohttp.ClientError, OSError) as exc:
        return 503, str(exc)


def _metrics(text: str) -> dict[str, float]:
    """The sum over labels of each metric in METRICS."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in METRICS:
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                continue
    return out


async def overview(s: Session) -> dict[str, Any]:
    (rz, rtext), (lz, ltext), (mz, mtext), (cz, ctext), (vz, vtext), (nz, ntext) = \
        await asyncio.gather(
            _get(s, CHECKS[0], "text/plain"), _get(s, CHECKS[1], "text/plain"),
            _get(s, "/metrics", "text/plain"),
            _get(s, "/apis/coordination.k8s.io/v1/leases"),
            _get(s, "/version"), _get(s, "/api/v1/namespaces?limit=1"))

    leases: list[dict[str, Any]] = []
    if cz == 200:
        for item in json.loads(ctext).get("items") or []:
            spec = item.get("spec") or {}
            md = item.get("metadata") or {}
            if md.get("namespace") == "kube-node-lease":
                continue
            leases.append({"namespace": md.get("namespace"), "name": md.get("name"),
                           "holder": spec.get("holderIdentity") or "",
                           "renewed": spec.get("renewTime") or ""})
    return {
        "readyz": {"code": rz, "text": rtext}, "livez": {"code": lz, "text": ltext},
        "version": json.loads(vtext) if vz == 200 else None,
        "leases": leases if cz == 200 else None, "leasesCode": cz,
        "metrics": _metrics(mtext) if mz == 200 else None, "metricsCode": mz,
        # a list's resourceVersion is the etcd revision it was read at
        "revision": (json.loads(ntext).get("metadata") or {}).get("resourceVersion")
        if nz == 200 else None,
        "at": time.time(),
    }
