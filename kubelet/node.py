"""The Node object and its heartbeat: registration, Lease renewal, conditions.

The Lease in ``kube-node-lease`` is the cheap heartbeat (every 10 s); the Node's
status is written only when something in it changes, or once a minute so that
``lastHeartbeatTime`` stays meaningful for readers that look only at the Node.

"Changes" is judged against the Node on the server too, not only against our last
write: when someone else rewrites our conditions (the node-lifecycle controller sets
them Unknown after an outage that kept the Lease from being renewed), ``observe`` sees
it through a watch on the Node and the status is posted again at once, as Kubernetes'
kubelet does, instead of at the next once-a-minute post.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
from collections.abc import Callable
from typing import Any

from api.models import Lease, LeaseSpec, Namespace, Node, ObjectMeta, OwnerReference
from api.timeutil import now, now_micro
from api.wellknown import LABEL_ARCH, LABEL_HOSTNAME, LABEL_OS
from client.backoff import exponential
from client.errors import AlreadyExists, ApiError, Conflict, NotFound
from client.rest import AsyncClient
from kubelet.kubelet import Kubelet

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.30.0-minik8s"
LEASE_NAMESPACE = "kube-node-lease"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def host_capacity() -> tuple[str, str]:
    """(cpu, memory) of this machine as quantities."""
    import psutil

    return str(os.cpu_count() or 1), f"{psutil.virtual_memory().total // 1024}Ki"


class NodeAgent:
    """Keeps one Node and its Lease true to fact."""

    def __init__(self, client: AsyncClient, kubelet: Kubelet, hollow: bool = False,
                 lease_interval: float | None = None, status_interval: float = 60.0,
                 event_fn: Callable[[Node, str, str, str], None] | None = None) -> None:
        self.client = client
        self.kl = kubelet
        self.name = kubelet.node_name
        self.hollow = hollow
        self.lease_interval = lease_interval or kubelet.config.heartbeat_seconds
        self.status_interval = status_interval
        self.event_fn = event_fn
        self.uid: str | None = None
        self.runtime_version = "unknown"
        self._last_status: dict[str, Any] | None = None
        self._last_post = 0.0
        self._ready: bool | None = None
        # Set when the server's Node disagrees with what we last wrote (see observe()).
        self._recheck = asyncio.Event()
        self.reposts = 0  # status posts caused by the server disagreeing (for tests, metrics)
        cpu, mem = kubelet.config.cpu, kubelet.config.memory
        if cpu is None or mem is None:
            if hollow:
                hc, hm = "4", "16Gi"
            else:
                hc, hm = host_capacity()
            cpu, mem = cpu or hc, mem or hm
        self.capacity = {"cpu": cpu, "memory": mem, "pods": str(kubelet.config.max_pods),
                         "ephemeral-storage": "100Gi" if hollow else self._disk_capacity()}

    def _disk_capacity(self) -> str:
        try:
            total = shutil.disk_usage(self._disk_path()).total
        except OSError:
            return "0"
        return f"{total // 1024}Ki"

    def _disk_path(self) -> str:
        p = self.kl.config.root_dir
        while p and not os.path.exists(p):
            p = os.path.dirname(p)
        return p or "/"

    # ---- object building -------------------------------------------------

    def _conditions(self, ready: bool, prev: list[dict[str, Any]]) -> list[dict[str, Any]]:
        mem_pressure = disk_pressure = False
        if not self.hollow:
            import psutil

            vm = psutil.virtual_memory()
            mem_pressure = vm.available < 100 * 1024 * 1024
            try:
                du = shutil.disk_usage(self._disk_path())
                disk_pressure = du.free < 0.10 * du.total
            except OSError:
                pass
        prev_conds = {c["type"]: c for c in prev}
        t = now()

        def cond(type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
            s = "True" if status else "False"
            old = prev_conds.get(type_)
            return {"type": type_, "status": s, "reason": reason, "message": message,
                    "lastHeartbeatTime": t,
                    "lastTransitionTime": old["lastTransitionTime"] if old and old.get(
                        "status") == s and old.get("lastTransitionTime") else t}

        return [
            cond("MemoryPressure", mem_pressure,
                 "KubeletHasInsufficientMemory" if mem_pressure else "KubeletHasSufficientMemory",
                 "kubelet has insufficient memory available" if mem_pressure
                 else "kubelet has sufficient memory available"),
            cond("DiskPressure", disk_pressure,
                 "KubeletHasDiskPressure" if disk_pressure else "KubeletHasNoDiskPressure",
                 "kubelet has disk pressure" if disk_pressure else "kubelet has no disk pressure"),
            cond("PIDPressure", False, "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available"),
            cond("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
                 "kubelet is posting ready status" if ready
                 else "container runtime is down: cannot reach the container runtime"),
        ]

    def _status(self, ready: bool, prev: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "allocatable": dict(self.capacity),
            "conditions": self._conditions(ready, prev),
            "addresses": [{"type": "InternalIP", "address": self.kl.node_ip},
                          {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kl.config.port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"),
                "systemUUID": _read("/etc/machine-id"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": platform.release(),
                "osImage": _os_image(),
                "containerRuntimeVersion": f"{self.kl.runtime.name}://{self.runtime_version}",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
            "phase": "Running",
        }

    def _labels(self) -> dict[str, str]:
        labels = {LABEL_HOSTNAME: self.name, LABEL_OS: "linux",
                  LABEL_ARCH: _arch(), "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": _arch()}
        if self.hollow:
            labels["minik8s.io/hollow"] = "true"
        return labels

    # ---- API writes ------------------------------------------------------

    async def register(self) -> None:
        with contextlib.suppress(Exception):
            self.runtime_version = await self.kl.runtime.version()
        ready = await self.kl.runtime.ping()
        self.kl.runtime_ready = ready
        node = Node.from_dict({"metadata": {"name": self.name, "labels": self._labels()},
                               "spec": {}})
        try:
            server = await self.client.create(node)
        except AlreadyExists:
            server = await self.client.patch(Node, self.name,
                                             {"metadata": {"labels": self._labels()}})
        self.uid = server.metadata.uid
        # Against the Node as it is: a restarted kubelet whose node stayed Ready keeps
        # its conditions' lastTransitionTime and records no new NodeReady.
        await self.post_status(force=True, server=server)
        if self.event_fn is not None:
            self.event_fn(node, "Normal", "Starting", "Starting kubelet.")

    async def post_status(self, force: bool = False, server: Node | None = None) -> bool:
        """Write the status if it changed (or ``force``, or once a status interval).

        With ``server`` (the Node as just read from the API server), "changed" and the
        conditions' lastTransitionTime are judged against it rather than our last write."""
        ready = self.kl.runtime_ready
        if server is not None:
            prev = _conditions_of(server)
            prev_ready: bool | None = next(
                (c.get("status") == "True" for c in prev if c.get("type") == "Ready"), None)
        else:
            prev = (self._last_status or {}).get("conditions") or []
            prev_ready = self._ready
        status = self._status(ready, prev)
        loop_now = asyncio.get_running_loop().time()
        changed = self._last_status is None or _strip_times(status) != _strip_times(self._last_status)
        if server is not None:
            changed = changed or _states(prev) != _states(status["conditions"])
        if not (force or changed or loop_now - self._last_post >= self.status_interval):
            return False
        await self.client.patch(Node, self.name, {"status": status}, subresource="status")
        self._last_status = status
        self._last_post = loop_now
        if prev_ready is not ready and self.event_fn is not None:
            node = Node.from_dict({"metadata": {"name": self.name, "uid": self.uid}, "spec": {}})
            self.event_fn(node, "Normal", "NodeReady" if ready else "NodeNotReady",
                          f"Node {self.name} status is now: {'NodeReady' if ready else 'NodeNotReady'}")
        self._ready = ready
        return True

    def observe(self, node: Node) -> None:
        """A watch saw our Node: if its conditions are not the ones we last wrote, have
        the heartbeat loop re-read it and post the truth (without waiting for the next
        heartbeat). Cheap: it only compares condition statuses."""
        if node.metadata.name != self.name or self._last_status is None:
            return
        ours = _states(self._last_status.get("conditions") or [])
        theirs = _states(_conditions_of(node))
        if any(theirs.get(t) != s for t, s in ours.items()):
            self._recheck.set()

    async def _repost_if_disagreeing(self) -> None:
        # Read afresh: the watch may have shown an old version that our own later
        # write already replaced.
        try:
            node = await self.client.get(Node, self.name)
        except NotFound:
            return  # deleted: registration is a restart's business, as in Kubernetes
        if await self.post_status(server=node):
            self.reposts += 1

    async def renew_lease(self) -> None:
        try:
            lease = await self.client.get(Lease, self.name, LEASE_NAMESPACE)
        except NotFound:
            owner = ([OwnerReference(api_version="v1", kind="Node", name=self.name, uid=self.uid)]
                     if self.uid else None)
            lease = Lease(metadata=ObjectMeta(name=self.name, namespace=LEASE_NAMESPACE,
                                              owner_references=owner),
                          spec=LeaseSpec(holder_identity=self.name,
                                         lease_duration_seconds=self.kl.config.lease_seconds,
                                         renew_time=now_micro()))
            try:
                await self.client.create(lease)
            except NotFound:
                # The namespace does not exist yet on a fresh cluster.
                with contextlib.suppress(AlreadyExists):
                    await self.client.create(Namespace(metadata=ObjectMeta(name=LEASE_NAMESPACE)))
                await self.client.create(lease)
            return
        lease = lease.copy_deep()
        lease.spec.holder_identity = self.name
        lease.spec.lease_duration_seconds = self.kl.config.lease_seconds
        lease.spec.renew_time = now_micro()
        with contextlib.suppress(Conflict):
            await self.client.update(lease)

    async def run(self, heartbeat_offset: float = 0.0) -> None:
        """Register (retrying until the API server answers), then heartbeat forever.

        ``heartbeat_offset`` spreads the heartbeats of many nodes in one process over
        the interval instead of sending them in bursts."""
        attempt = 0
        while True:
            delay = exponential(attempt, 0.5, 10.0)
            try:
                await self.register()
                break
            except (ApiError, OSError) as exc:
                log.warning("registering node %s: %s; retrying in %.1fs", self.name, exc, delay)
            await asyncio.sleep(delay)
            attempt += 1
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + heartbeat_offset
        while True:
            if loop.time() < next_beat:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._recheck.wait(), next_beat - loop.time())
            beat = loop.time() >= next_beat
            recheck = self._recheck.is_set()
            self._recheck.clear()
            if beat:
                next_beat = loop.time() + self.lease_interval
            try:
                if beat:
                    await self.renew_lease()
                    if not self.hollow:
                        self.kl.runtime_ready = await self.kl.runtime.ping()
                        if self.kl.runtime_ready and self.runtime_version == "unknown":
                            # The runtime was down when we registered.
                            with contextlib.suppress(Exception):
                                self.runtime_version = await self.kl.runtime.version()
                if recheck:
                    await self._repost_if_disagreeing()
                elif beat:
                    await self.post_status()
            except (ApiError, OSError) as exc:
                log.warning("node %s heartbeat: %s", self.name, exc)
            except Exception:
                log.exception("node %s heartbeat", self.name)
            if recheck and not beat:
                # Someone who keeps rewriting our conditions gets at most one answer a
                # second from us.
                await asyncio.sleep(min(1.0, max(0.0, next_beat - loop.time())))


def _conditions_of(node: Node) -> list[dict[str, Any]]:
    conds = node.status.conditions if node.status is not None else None
    return [c.to_dict() for c in conds or []]


def _states(conditions: list[dict[str, Any]]) -> dict[Any, Any]:
    return {c.get("type"): c.get("status") for c in conditions}


def _strip_times(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                         for c in status.get("conditions") or []]
    return out
