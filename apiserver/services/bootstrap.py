"""The ``kubernetes`` Service in ``default``, and its Endpoints and EndpointSlice.

After kube-apiserver's pkg/controlplane/controller/kubernetesservice (the bootstrap
controller: CreateOrUpdateMasterServiceIfNeeded, run at start-up and every
EndpointInterval) and the endpoint reconciler (pkg/controlplane/reconcilers with the
endpointsadapter): the Service has the first address of the service range, port 443
named ``https`` to the API server's port, no selector; its Endpoints (labelled
``endpointslice.kubernetes.io/skip-mirror``) and EndpointSlice hold the addresses the
servers advertise (``--advertise-address``). Everything is written through the
registry, so the ClusterIP comes from the allocator and the objects are validated.

With several API servers, Kubernetes' lease reconciler (``--endpoint-reconciler-type=
lease``, the default; pkg/controlplane/reconcilers/lease.go): each server keeps
``/registry/masterleases/<its address>`` in etcd with a TTL (15 s,
DefaultEndpointReconcilerTTL), renewed at each reconcile, and writes the addresses of
all live leases into the Endpoints and EndpointSlice. A server that shuts down
gracefully deletes its lease and writes the others' addresses at once
(RemoveEndpoints); a killed one drops out when its lease expires. ``none``: this
server writes only its own address, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
from typing import Any

import orjson

from api import resources
from api.resources import ResourceInfo
from apiserver import errors
from apiserver.storage import ConflictError, KeyExistsError, KeyNotFoundError, StorageError

log = logging.getLogger("apiserver.services.bootstrap")

JSONDict = dict[str, Any]

NAME = "kubernetes"
NAMESPACE = "default"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SIOCGIFADDR = 0x8915
# Kubernetes' lease endpoint reconciler: where the servers' leases live, and their TTL
# in seconds (DefaultEndpointReconcilerTTL).
MASTER_LEASES = "/registry/masterleases/"
LEASE_TTL = 15


def first_service_ip(cidr: str) -> str:
    """The range's first usable address (10.96.0.1 for 10.96.0.0/12)."""
    return str(ipaddress.ip_network(cidr, strict=False).network_address + 1)


def _interface_ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            req = struct.pack("256s", name.encode()[:15])
            res = fcntl.ioctl(s.fileno(), SIOCGIFADDR, req)
        except OSError:
            return None
        return socket.inet_ntoa(res[20:24])


def _default_route_interface() -> str | None:
    try:
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def host_address() -> str | None:
    """ChooseHostInterface: the IPv4 address of the default route's interface, else the
    first non-loopback interface's (no packet is sent to find it)."""
    iface = _default_route_interface()
    if iface:
        ip = _interface_ipv4(iface)
        if ip and not ipaddress.ip_address(ip).is_loopback:
            return ip
    for _, name in socket.if_nameindex():
        ip = _interface_ipv4(name)
        if ip and not ipaddress.ip_address(ip).is_loopback:
            return ip
    return None


def service_body(service_ip: str, port: int) -> JSONDict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
            "spec": {"type": "ClusterIP", "clusterIP": service_ip, "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}}


def endpoints_body(addresses: str | list[str], port: int) -> JSONDict:
    ips = [addresses] if isinstance(addresses, str) else addresses
    subsets = [{"addresses": [{"ip": ip} for ip in ips],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}] if ips else []
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {SKIP_MIRROR: "true"}},
            "subsets": subsets}


def endpoint_slice_body(addresses: str | list[str], port: int) -> JSONDict:
    ips = [addresses] if isinstance(addresses, str) else addresses
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {SERVICE_NAME_LABEL: NAME}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}


def lease_body(address: str, port: int) -> JSONDict:
    """What a master lease holds: an Endpoints with the server's address (as
    Kubernetes' lease reconciler stores it)."""
    body = endpoints_body(address, port)
    body["metadata"] = {"name": address}
    return body


class KubernetesService:
    """Keeps the ``kubernetes`` Service and its endpoints as this server wants them."""

    def __init__(self, registry: Any, service_ip: str, port: int,
                 advertise_address: str | None, reconciler: str = "lease",
                 lease_ttl: int = LEASE_TTL) -> None:
        self.registry = registry
        self.service_ip = service_ip
        self.port = port
        self.address = advertise_address
        self.reconciler = reconciler  # "lease" or "none"
        self.lease_ttl = lease_ttl
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def lease_key(self) -> str:
        return f"{MASTER_LEASES}{self.address}"

    async def _renew_lease(self) -> None:
        """Write this server's lease with a fresh TTL (UpdateLease)."""
        storage = self.registry.storage
        value = orjson.dumps(lease_body(str(self.address), self.port))
        kv = await storage.get(self.lease_key)
        try:
            if kv is None:
                await storage.create(self.lease_key, value, self.lease_ttl)
            else:
                await storage.update(self.lease_key, value, kv.mod_revision, self.lease_ttl)
        except (KeyExistsError, ConflictError):
            pass  # written meanwhile (by an earlier round of ours): renewed

    async def lease_addresses(self) -> list[str]:
        """The addresses of the live leases (ListLeases), sorted."""
        res = await self.registry.storage.list_prefix(MASTER_LEASES)
        out = set()
        for kv in res.kvs:
            ip = kv.key[len(MASTER_LEASES):]
            with contextlib.suppress(ValueError):
                out.add(str(ipaddress.IPv4Address(ip)))
        return sorted(out, key=ipaddress.IPv4Address)

    async def _write_endpoints(self, addresses: list[str]) -> None:
        await self._ensure(resources.ENDPOINTS, endpoints_body(addresses, self.port),
                           ("subsets",))
        await self._ensure(resources.ENDPOINTSLICES,
                           endpoint_slice_body(addresses, self.port),
                           ("addressType", "endpoints", "ports"))

    async def remove(self) -> None:
        """This server is going away: delete its lease and write the others' addresses
        (RemoveEndpoints)."""
        if self.address is None or self.reconciler != "lease":
            return
        with contextlib.suppress(KeyNotFoundError):
            await self.registry.storage.delete(self.lease_key)
        others = [ip for ip in await self.lease_addresses() if ip != self.address]
        await self._write_endpoints(others)

    def stop_soon(self) -> None:
        """Stop reconciling and remove this server's endpoints (from any thread, e.g.
        a signal handler)."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._stop.set)

    async def _get(self, info: ResourceInfo) -> JSONDict | None:
        try:
            co = await self.registry.get(info, NAMESPACE, NAME)
        except errors.ApiError as e:
            if e.code == 404:
                return None
            raise
        obj: JSONDict = co.obj
        return obj

    async def _ensure(self, info: ResourceInfo, want: JSONDict, fields: tuple[str, ...]
                      ) -> None:
        """Create ``want``, or update the stored object's ``fields`` (and labels) where
        they differ."""
        cur = await self._get(info)
        if cur is None:
            try:
                await self.registry.create(info, NAMESPACE, want)
            except errors.ApiError as e:
                if e.code != 409:
                    raise
            return
        new = dict(cur)
        changed = False
        for f in fields:
            if _differs(cur, want, f):
                _set(new, f, _get(want, f))
                changed = True
        labels = dict((cur.get("metadata") or {}).get("labels") or {})
        for k, v in ((want.get("metadata") or {}).get("labels") or {}).items():
            if labels.get(k) != v:
                labels[k] = v
                changed = True
        if changed:
            new["metadata"] = {**(cur.get("metadata") or {}), "labels": labels}
            await self.registry.update(info, NAMESPACE, NAME, new)

    async def reconcile(self) -> None:
        """CreateOrUpdateMasterServiceIfNeeded, then the endpoints."""
        await self._ensure(resources.SERVICES, service_body(self.service_ip, self.port),
                           ("spec.ports", "spec.type"))
        if self.address is None:
            return
        addresses = [self.address]
        if self.reconciler == "lease":
            await self._renew_lease()
            addresses = sorted(set(await self.lease_addresses()) | {self.address},
                               key=ipaddress.IPv4Address)
        await self._write_endpoints(addresses)

    async def run(self, interval: float, ready: asyncio.Event | None = None) -> None:
        """Reconcile now (retrying until etcd answers) and every ``interval`` seconds,
        until ``stop_soon``: then remove this server's endpoints."""
        self._loop = asyncio.get_running_loop()
        stop = self._stop = asyncio.Event()
        delay = 0.1
        first = True
        while not stop.is_set():
            try:
                await self.reconcile()
            except (errors.ApiError, StorageError) as e:
                log.warning("the kubernetes service: %s", e)
                if first:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
            if first and ready is not None:
                ready.set()
            first = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        try:
            await self.remove()
        except (errors.ApiError, StorageError) as e:
            log.warning("removing this server from the kubernetes endpoints: %s", e)


def _get(obj: JSONDict, path: str) -> Any:
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _set(obj: JSONDict, path: str, value: Any) -> None:
    parts = path.split(".")
    cur = obj
    for p in parts[:-1]:
        nxt = cur.get(p)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _differs(cur: JSONDict, want: JSONDict, path: str) -> bool:
    have, target = _get(cur, path), _get(want, path)
    if path == "spec.ports" and isinstance(have, list):
        # The stored ports carry defaults (targetPort, nodePort...): compare what we set.
        have = [{k: p.get(k) for k in ("name", "port", "protocol", "targetPort")}
                for p in have if isinstance(p, dict)]
    return bool(have != target)
