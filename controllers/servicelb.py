"""The service load-balancer controller: loopback addresses for ``type: LoadBalancer``
Services, as k3s's ServiceLB and kind's cloud-provider-kind give them on one machine.

It follows cloud-provider's service controller (k8s.io/cloud-provider
controllers/service/controller.go): a Service that wants a load balancer (type
LoadBalancer, no ``loadBalancerClass`` or ours, not being deleted) gets the finalizer
``service.kubernetes.io/load-balancer-cleanup``, then an address, written as
``status.loadBalancer.ingress[0].ip`` with ``ipMode: VIP``, between the events
EnsuringLoadBalancer and EnsuredLoadBalancer. A Service that no longer wants one (deleted,
type changed) has its status cleared and its address freed, then the finalizer removed,
between DeletingLoadBalancer and DeletedLoadBalancer. A failure is a Warning
SyncLoadBalancerFailed and no allocation.

The "load balancer" is an address of ``--load-balancer-ip-range`` (default
127.0.240.0/20, inside 127.0.0.0/8: local on Linux, never announced, 127.0.0.1 never
handed out); minik8s-proxy makes it answer on the Service's ports (DNAT in PREROUTING and
OUTPUT, as for any load-balancer IP). ``spec.loadBalancerIP`` is honoured when it is in the
range and free. Which address a Service holds is read back from the Services' statuses
(the informer's initial list claims them before any worker runs), so a restarted
controller hands out nothing twice; addresses are handed out lowest first.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from api.models import Service
from client import AsyncClient, NotFound
from client.cache import meta_key, split_key
from client.controller import Controller, Result
from controllers.context import ControllerContext, Recorder, retry_conflicts

log = logging.getLogger(__name__)

LOAD_BALANCER_CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
# A Service may name this class to ask for this controller explicitly; a Service naming
# any other class is another implementation's and left alone.
LOAD_BALANCER_CLASS = "minik8s.io/loopback"
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
LOCALHOST = ipaddress.ip_address("127.0.0.1")


class RangeError(ValueError):
    pass


def parse_range(cidr: str) -> ipaddress.IPv4Network:
    """A CIDR inside 127.0.0.0/8 (anything else would be announced or routed)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise RangeError(f"invalid CIDR {cidr!r}") from exc
    if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(LOOPBACK):
        raise RangeError(f"{cidr} is not inside 127.0.0.0/8")
    if net.num_addresses < 2 and LOCALHOST in net:
        raise RangeError(f"{cidr} holds no address but 127.0.0.1")
    return net


class LoopbackPool:
    """The addresses of a range and which Service (``ns/name``) holds each. Pure, in
    memory; one event loop uses it, so a check and a claim never interleave."""

    def __init__(self, cidr: str) -> None:
        self.network = parse_range(cidr)
        base = int(self.network.network_address)
        n = self.network.num_addresses
        # a /31 or /32 has no network and broadcast address to skip
        self._first = base + (1 if n > 2 else 0)
        self._last = base + n - (2 if n > 2 else 1)
        self.owner: dict[str, str] = {}  # ip -> key
        self.by_key: dict[str, str] = {}  # key -> ip
        self._hint = self._first  # no free address below it

    def contains(self, ip: str) -> bool:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return a != LOCALHOST and self._first <= int(a) <= self._last

    def holder(self, ip: str) -> str | None:
        return self.owner.get(ip)

    def claim(self, key: str, ip: str) -> bool:
        """Give ``ip`` to ``key`` (freeing what else it held) unless another holds it or it
        is outside the range."""
        if not self.contains(ip) or self.owner.get(ip, key) != key:
            return False
        old = self.by_key.get(key)
        if old is not None and old != ip:
            self.release(key)
        self.owner[ip] = key
        self.by_key[key] = ip
        return True

    def allocate(self, key: str) -> str | None:
        """What ``key`` holds, else the lowest free address (None: the range is full)."""
        held = self.by_key.get(key)
        if held is not None:
            return held
        for n in range(self._hint, self._last + 1):
            ip = str(ipaddress.IPv4Address(n))
            if ip in self.owner or n == int(LOCALHOST):
                continue
            self._hint = n + 1
            self.owner[ip] = key
            self.by_key[key] = ip
            return ip
        self._hint = self._last + 1
        return None

    def release(self, key: str) -> str | None:
        ip = self.by_key.pop(key, None)
        if ip is not None and self.owner.get(ip) == key:
            del self.owner[ip]
            self._hint = min(self._hint, int(ipaddress.IPv4Address(ip)))
        return ip


def wants_load_balancer(svc: Service) -> bool:
    """wantsLoadBalancer, for this controller: type LoadBalancer, no class or ours."""
    return svc.spec.type == "LoadBalancer" and \
        svc.spec.load_balancer_class in (None, LOAD_BALANCER_CLASS)


def ingress_ips(svc: Service) -> list[str]:
    lb = svc.status.load_balancer if svc.status else None
    return [i.ip for i in (lb.ingress if lb else None) or [] if i.ip]


def _ingress(svc: Service) -> list[dict[str, Any]]:
    lb = svc.status.load_balancer if svc.status else None
    return [i.model_dump(by_alias=True, exclude_none=True)
            for i in (lb.ingress if lb else None) or []]


class ServiceLBController:
    name = "servicelb"

    def __init__(self, ctx: ControllerContext, workers: int = 4) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder: Recorder = ctx.recorder
        self.pool = LoopbackPool(ctx.options.load_balancer_ip_range)
        self.informer = ctx.factory.informer(Service)
        self.store = self.informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(self._seen, lambda _old, new: self._seen(new), self._gone)
        # Services whose sync failed for want of an address: retried when one is freed
        self._waiting: set[str] = set()

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _ours(self, svc: Service) -> bool:
        return wants_load_balancer(svc) or \
            LOAD_BALANCER_CLEANUP_FINALIZER in (svc.metadata.finalizers or ())

    def _seen(self, svc: Service) -> None:
        key = meta_key(svc)
        if wants_load_balancer(svc):
            # the address its status names is its own (the informer's first list runs
            # before any worker: a restart keeps every Service's address)
            for ip in ingress_ips(svc):
                if self.pool.contains(ip) and self.pool.holder(ip) is None \
                        and key not in self.pool.by_key:
                    self.pool.claim(key, ip)
        if self._ours(svc) or key in self.pool.by_key:
            self.controller.enqueue(key)

    def _gone(self, svc: Any) -> None:
        if isinstance(svc, Service):
            self.controller.enqueue(meta_key(svc))

    def _freed(self, key: str) -> None:
        if self.pool.release(key) is not None:
            self._wake()

    def _wake(self) -> None:
        """An address was freed: the Services waiting for one try again."""
        for k in self._waiting:
            self.controller.enqueue(k)
        self._waiting.clear()

    async def reconcile(self, key: str) -> Result | None:
        svc = self.store.get(key)
        if svc is None:
            self._waiting.discard(key)
            self._freed(key)
            return None
        if wants_load_balancer(svc) and svc.metadata.deletion_timestamp is None:
            return await self._ensure(key, svc)
        self._waiting.discard(key)
        await self._delete(key, svc)
        return None

    # ---- ensure --------------------------------------------------------------------------

    def _choose(self, key: str, svc: Service) -> tuple[str | None, str]:
        """The address for ``svc``, or None and why not."""
        before = self.pool.by_key.get(key)
        ip, why = self._pick(key, svc)
        if before is not None and self.pool.by_key.get(key) != before:
            self._wake()  # it moved to another address: the old one is free
        return ip, why

    def _pick(self, key: str, svc: Service) -> tuple[str | None, str]:
        requested = svc.spec.load_balancer_ip or ""
        if requested:
            if not self.pool.contains(requested):
                return None, (f"requested loadBalancerIP {requested} is not in the "
                              f"load-balancer range {self.pool.network}")
            holder = self.pool.holder(requested)
            if holder not in (None, key):
                return None, (f"requested loadBalancerIP {requested} is already allocated "
                              f"to Service {holder}")
            self.pool.claim(key, requested)
            return requested, ""
        for current in ingress_ips(svc):
            if self.pool.claim(key, current):
                return current, ""
        ip = self.pool.allocate(key)
        if ip is None:
            return None, f"no free address left in the load-balancer range {self.pool.network}"
        return ip, ""

    async def _ensure(self, key: str, svc: Service) -> Result | None:
        ns, name = split_key(key)
        if LOAD_BALANCER_CLEANUP_FINALIZER not in (svc.metadata.finalizers or ()):
            # addFinalizer: before any address is handed out, so none can leak
            svc = await self.client.patch(Service, name, {"metadata": {
                "finalizers": [*(svc.metadata.finalizers or ()),
                               LOAD_BALANCER_CLEANUP_FINALIZER],
                "resourceVersion": svc.metadata.resource_version}}, ns)
        ip, why = self._choose(key, svc)
        if ip is None:
            self._waiting.add(key)
            self.recorder.event(svc, "Warning", "SyncLoadBalancerFailed",
                                f"Error syncing load balancer: failed to ensure load "
                                f"balancer: {why}")
            return None
        self._waiting.discard(key)
        want = [{"ip": ip, "ipMode": "VIP"}]
        if _ingress(svc) == want:
            return None
        self.recorder.event(svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        try:
            await self.client.patch(Service, name, {"status": {"loadBalancer": {
                "ingress": want}}}, ns, subresource="status")
        except NotFound:
            self._freed(key)
            return None
        log.info("service %s: load balancer at %s", key, ip)
        self.recorder.event(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        return None

    # ---- delete --------------------------------------------------------------------------

    async def _delete(self, key: str, svc: Service) -> None:
        """processLoadBalancerDelete: clear the status, free the address, drop the
        finalizer (only what this controller did; another class's Service is left alone)."""
        has_finalizer = LOAD_BALANCER_CLEANUP_FINALIZER in (svc.metadata.finalizers or ())
        held = key in self.pool.by_key
        if not has_finalizer and not held:
            return
        ns, name = split_key(key)
        self.recorder.event(svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        try:
            if svc.spec.type == "LoadBalancer" and ingress_ips(svc):
                svc = await self.client.patch(Service, name, {"status": {"loadBalancer": {
                    "ingress": None}}}, ns, subresource="status")
            self._freed(key)
            if has_finalizer:
                await self.client.patch(Service, name, {"metadata": {
                    "finalizers": [f for f in svc.metadata.finalizers or ()
                                   if f != LOAD_BALANCER_CLEANUP_FINALIZER],
                    "resourceVersion": svc.metadata.resource_version}}, ns)
        except NotFound:
            self._freed(key)
            return
        log.info("service %s: load balancer deleted", key)
        self.recorder.event(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
