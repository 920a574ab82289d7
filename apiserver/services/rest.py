"""The Service REST storage's allocation: ClusterIPs and NodePorts around each write.

After pkg/registry/core/service/storage/storage.go (beginCreate, beginUpdate,
afterDelete) and alloc.go (allocateCreate, allocateUpdate, initIPFamilyFields,
txnAllocClusterIPs, txnUpdateClusterIPs, txnAllocNodePorts, updateNodePorts,
releaseAllocatedResources): the generic registry calls these hooks (``StoreHooks``)
after validation and before the etcd write; what they allocate is released again if
the write fails, and what an update gives up is released only once it succeeded.
A deleted Service's IPs and ports are released after the delete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from api import resources
from api.validation.field import FieldError, invalid
from api.validation.service import CLUSTER_IP_NONE, is_headless
from apiserver import errors
from apiserver.services.allocator import (
    AllocationError,
    Change,
    IPRange,
    Item,
    PortRange,
    RangeAllocator,
)
from apiserver.storage import ConflictError, Storage, StorageError
from apiserver.strategies.service import service_port_dicts, service_spec

log = logging.getLogger("apiserver.services")

JSONDict = dict[str, Any]
Finish = Callable[[bool], Awaitable[None]]

IPS_KEY = "/registry/ranges/serviceips"
PORTS_KEY = "/registry/ranges/servicenodeports"


# ---- what a Service holds (pkg/registry/core/service/storage/alloc.go helpers) ---------


def needs_cluster_ip(svc: JSONDict) -> bool:
    return service_spec(svc).get("type") != "ExternalName"


def needs_node_port(svc: JSONDict) -> bool:
    """The type holds NodePorts (a LoadBalancer with allocateLoadBalancerNodePorts false
    too: it keeps those it has or is given, it only gets none allocated)."""
    return service_spec(svc).get("type") in ("NodePort", "LoadBalancer")


def allocates_node_ports(svc: JSONDict) -> bool:
    """shouldAllocateNodePorts: a port without a nodePort gets one."""
    spec = service_spec(svc)
    return spec.get("type") == "NodePort" or (
        spec.get("type") == "LoadBalancer"
        and spec.get("allocateLoadBalancerNodePorts") is not False)


def needs_hc_node_port(svc: JSONDict) -> bool:
    spec = service_spec(svc)
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def held_ips(svc: JSONDict) -> list[str]:
    """The ClusterIPs a stored Service holds (none for headless or ExternalName)."""
    if not needs_cluster_ip(svc):
        return []
    ips = service_spec(svc).get("clusterIPs") or []
    return [str(ip) for ip in ips if ip and ip != CLUSTER_IP_NONE]


def held_node_ports(svc: JSONDict) -> list[int]:
    """collectServiceNodePorts plus the healthCheckNodePort, each once."""
    out: list[int] = []
    if needs_node_port(svc):
        for p in service_port_dicts(svc):
            np = p.get("nodePort")
            if isinstance(np, int) and np and np not in out:
                out.append(np)
    hc = service_spec(svc).get("healthCheckNodePort")
    if needs_hc_node_port(svc) and isinstance(hc, int) and hc and hc not in out:
        out.append(hc)
    return out


async def _nothing() -> list[str]:
    return []


def _invalid(svc: JSONDict, errs: list[FieldError]) -> errors.ApiError:
    name = (svc.get("metadata") or {}).get("name")
    return errors.invalid(resources.SERVICES, name if isinstance(name, str) else None,
                          [e.to_cause() for e in errs])


def init_ip_family_fields(svc: JSONDict, old: JSONDict | None = None) -> None:
    """initIPFamilyFields on a single-stack IPv4 cluster: ipFamilyPolicy SingleStack
    (RequireDualStack for a headless Service without a selector), ipFamilies [IPv4];
    an update keeps what the old Service had; IPv6 or a required dual stack is refused
    as Kubernetes refuses them where the cluster is not configured for them."""
    if not needs_cluster_ip(svc):
        return
    spec = service_spec(svc)
    if old is not None and needs_cluster_ip(old):
        ospec = service_spec(old)
        if spec.get("ipFamilyPolicy") is None and ospec.get("ipFamilyPolicy") is not None:
            spec["ipFamilyPolicy"] = ospec["ipFamilyPolicy"]
        if not spec.get("ipFamilies") and ospec.get("ipFamilies"):
            spec["ipFamilies"] = list(ospec["ipFamilies"])
    errs: list[FieldError] = []
    for i, fam in enumerate(spec.get("ipFamilies") or []):
        if fam != "IPv4":
            errs.append(invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
    headless_no_selector = is_headless(svc) and not spec.get("selector")
    policy = spec.get("ipFamilyPolicy")
    if policy is None:
        policy = "RequireDualStack" if headless_no_selector else "SingleStack"
    if policy == "RequireDualStack" and not headless_no_selector:
        errs.append(invalid("spec.ipFamilyPolicy", policy,
                            "this cluster is not configured for dual-stack services"))
    if errs:
        raise _invalid(svc, errs)
    spec["ipFamilyPolicy"] = policy
    spec["ipFamilies"] = ["IPv4"]


class ServiceAllocations:
    """The ``StoreHooks`` of the services resource: its ClusterIP and NodePort
    allocators, kept in etcd."""

    def __init__(self, storage: Storage, cluster_ip_range: str = "10.96.0.0/12",
                 node_port_range: str = "30000-32767") -> None:
        self.ips = RangeAllocator(storage, IPS_KEY, IPRange(cluster_ip_range),
                                  random_scan=False)
        self.ports = RangeAllocator(storage, PORTS_KEY, PortRange(node_port_range))

    # ---- the allocators, with their errors as Statuses ---------------------------------

    async def _change(self, alloc: RangeAllocator, change: Change, dry_run: bool
                      ) -> list[Item]:
        try:
            return await alloc.change(change, dry_run)
        except ConflictError:
            raise errors.ApiError(409, "Conflict", "the allocation of "
                                  f"{alloc.range.spec} was modified concurrently too often; "
                                  "try again") from None
        except StorageError as e:
            raise errors.unavailable(str(e)) from None

    async def _release(self, ips: list[str], ports: list[int]) -> None:
        """Give items back; a failure only leaks them until the repair pass."""
        async def release(alloc: RangeAllocator, items: list[Any]) -> None:
            try:
                await alloc.change(Change(release=items))
            except (StorageError, ConflictError) as e:
                log.warning("releasing %s from %s failed (the repair pass will): %s",
                            items, alloc.range.spec, e)

        await asyncio.gather(*(release(alloc, items) for alloc, items in
                               ((self.ips, ips), (self.ports, ports)) if items))

    async def _alloc_cluster_ip(self, svc: JSONDict, dry_run: bool) -> list[str]:
        """txnAllocClusterIPs: the requested clusterIP, or the next free one."""
        spec = service_spec(svc)
        if is_headless(svc):
            return []
        requested = spec.get("clusterIP") or None
        try:
            got = await self._change(self.ips, Change(allocate=[requested]), dry_run)
        except AllocationError as e:
            if requested is None:
                raise errors.internal(f"failed to allocate a serviceIP: {e}") from None
            raise _invalid(svc, [invalid("spec.clusterIPs[0]", requested,
                                         f"failed to allocate IP {requested}: {e}")]) from None
        spec["clusterIP"] = got[0]
        spec["clusterIPs"] = [got[0]]
        return [] if dry_run else [str(got[0])]

    async def _alloc_node_ports(self, svc: JSONDict, keep: set[int], dry_run: bool
                                ) -> list[int]:
        """txnAllocNodePorts / updateNodePorts: every port of a Service that needs one
        gets its requested nodePort (kept if the old Service held it) or the next free
        one; a number shared by two protocols is allocated once. Returns what it
        allocated."""
        wanted: list[tuple[str, JSONDict, str]] = []  # (path, dict holding it, key)
        if needs_node_port(svc):
            dynamic_ok = allocates_node_ports(svc)
            for i, p in enumerate(service_spec(svc).get("ports") or []):
                # initNodePorts / updateNodePorts: with allocateLoadBalancerNodePorts
                # false, only the nodePorts given (or kept) are held
                if isinstance(p, dict) and (dynamic_ok or p.get("nodePort")):
                    wanted.append((f"spec.ports[{i}].nodePort", p, "nodePort"))
        if needs_hc_node_port(svc):
            wanted.append(("spec.healthCheckNodePort", service_spec(svc), "healthCheckNodePort"))
        requests: list[int | None] = []
        paths: list[str] = []
        dynamic: list[tuple[JSONDict, str, int]] = []  # (holder, key, index in requests)
        seen: set[int] = set()
        for path, holder, key in wanted:
            n = holder.get(key)
            if isinstance(n, int) and n:
                if n in keep or n in seen:
                    continue
                seen.add(n)
            else:
                dynamic.append((holder, key, len(requests)))
                n = None
            requests.append(n)
            paths.append(path)
        if not requests:
            return []
        try:
            got = await self._change(self.ports, Change(allocate=requests), dry_run)
        except AllocationError as e:
            n = requests[e.index]
            if n is None:
                raise errors.internal(f"failed to allocate a nodePort: {e}") from None
            raise _invalid(svc, [invalid(paths[e.index], n, str(e))]) from None
        for holder, key, idx in dynamic:
            holder[key] = got[idx]
        return [] if dry_run else [int(x) for x in got]

    # ---- StoreHooks --------------------------------------------------------------------

    async def begin_create(self, svc: JSONDict, dry_run: bool) -> Finish:
        """beginCreate: families, then the ClusterIP, then the NodePorts."""
        init_ip_family_fields(svc)
        # Both at once (each is a round trip to etcd); what one got goes back if the
        # other failed. Each request queues on both allocators before it first yields, so
        # concurrent requests reach the two in the same order: of two that want the same
        # IP and port, the earlier gets both (never one each, both failing).
        got_ips, got_ports = await asyncio.gather(
            self._alloc_cluster_ip(svc, dry_run) if needs_cluster_ip(svc) else _nothing(),
            self._alloc_node_ports(svc, set(), dry_run), return_exceptions=True)
        if isinstance(got_ips, BaseException) or isinstance(got_ports, BaseException):
            await self._release([] if isinstance(got_ips, BaseException) else got_ips,
                                [] if isinstance(got_ports, BaseException) else got_ports)
            if isinstance(got_ips, BaseException):
                raise got_ips
            if isinstance(got_ports, BaseException):
                raise got_ports
        ips: list[str] = got_ips
        ports: list[int] = got_ports

        async def finish(success: bool) -> None:
            if not success:
                await self._release(ips, ports)

        return finish

    async def begin_update(self, new: JSONDict, old: JSONDict, dry_run: bool) -> Finish:
        """beginUpdate / allocateUpdate: a type change to or from ExternalName allocates or
        releases the ClusterIP; NodePorts the old Service held and the new one keeps stay,
        new ones are allocated, the rest released once the write succeeded."""
        init_ip_family_fields(new, old)
        new_ips: list[str] = []
        release_ips: list[str] = []
        if needs_cluster_ip(new) and not needs_cluster_ip(old):
            new_ips = await self._alloc_cluster_ip(new, dry_run)
        elif needs_cluster_ip(old) and not needs_cluster_ip(new):
            release_ips = held_ips(old)
        old_ports = held_node_ports(old)
        try:
            new_ports = await self._alloc_node_ports(new, set(old_ports), dry_run)
        except BaseException:
            await self._release(new_ips, [])
            raise
        kept = set(held_node_ports(new))
        release_ports = [n for n in old_ports if n not in kept]

        async def finish(success: bool) -> None:
            if dry_run:
                return
            if success:
                await self._release(release_ips, release_ports)
            else:
                await self._release(new_ips, new_ports)

        return finish

    async def after_delete(self, svc: JSONDict) -> None:
        """afterDelete: releaseAllocatedResources."""
        await self._release(held_ips(svc), held_node_ports(svc))
