"""The proxy's state and sync loop (kube-proxy's Proxier and BoundedFrequencyRunner).

The informers' handlers only record the latest Services and EndpointSlices and ask for
a sync; the loop then computes every service port's endpoints, compares each Service's
result with what the last successful sync wrote, and rewrites only the chains of the
Services that changed (kube-proxy's partial sync), in one ``iptables-restore``.

Rate: at most ``burst`` syncs back to back, then one per ``min_sync_period`` (kube-proxy's
--min-sync-period, BoundedFrequencyRunner with burstSyncs=2), so a single change after a
quiet spell is applied at once and a storm of changes is batched. A full sync (every
chain rewritten, the jump rules re-checked, chains found in the kernel that nothing wants
deleted) runs at start, after a failure and every ``sync_period``.

Two modes (``mode``): "iptables" (proxy/rules.py, one ``iptables-restore``) and "nftables"
(proxy/nftables.py, one ``nft -f`` into ``table ip kube-proxy``).

Node ports answer on the InternalIP of every Node too (``on_node``): here the nodes are
containers whose pods share this network namespace, so one proxy serves them all and their
addresses are node addresses to it (kube-proxy matches its own node's addresses).

The service-range guards are installed before the first sync (serve() does it before the
proxier starts) and re-checked on every full sync and every ``guard_check_period`` seconds
by a task of their own, so that partial syncs pay no ``iptables -C`` for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

from api.models import Node, Service
from api.models.discovery import EndpointSlice
from api.wellknown import LABEL_SERVICE_NAME
from proxy import nftables, rules
from proxy.healthcheck import ServiceHealthServer
from proxy.iptables import (
    Iptables,
    IptablesError,
    ensure_guards,
    ensure_jumps,
    ensure_localnet_guard,
)

log = logging.getLogger(__name__)


@dataclass
class SyncStats:
    syncs: int = 0
    full_syncs: int = 0
    failures: int = 0
    last_duration: float = 0.0
    last_restore_duration: float = 0.0
    durations: list[float] = field(default_factory=list)  # the last 1000
    last_synced: float = 0.0  # time.time() of the last success
    last_queued: float = 0.0  # time.time() of the oldest change not yet applied (0: none)
    guards_reinserted: int = 0
    last_ruleset_rules: int = 0
    last_service_chains_written: int = 0
    last_chains_deleted: int = 0
    guard_checks: int = 0


def _vips(sp: rules.ServicePortInfo) -> tuple[str, ...]:
    """The addresses a port's traffic is sent to: its cluster IP, external IPs and
    load-balancer IPs (the conntrack entries to clear are keyed by them)."""
    return (sp.cluster_ip, *sp.external_ips, *sp.load_balancer_ips)


def _key(ns: str | None, name: str | None) -> str:
    return f"{ns or 'default'}/{name or ''}"


class Proxier:
    def __init__(self, ipt: Iptables, config: rules.ProxyConfig, service_cidr: str, *,
                 min_sync_period: float = 1.0, sync_period: float = 30.0,
                 burst: int = 2, mode: str = "iptables",
                 guard_check_period: float = 10.0, local_nodes: tuple[str, ...] = (),
                 health_host: str | None = None) -> None:
        if mode not in ("iptables", "nftables"):
            raise ValueError(f"unknown proxy mode {mode!r}")
        self.mode = mode
        self.nft = nftables.NftSyncer(ipt, service_cidr) if mode == "nftables" else None
        self.guard_check_period = guard_check_period
        # the nodes whose endpoints are local (externalTrafficPolicy Local)
        self.local_nodes = frozenset(local_nodes)
        # health-check node ports (None: not served, as in the rule-only benchmarks)
        self.health = ServiceHealthServer(self.healthy, health_host) \
            if health_host is not None else None
        self.localnet = False  # guard 127/8 too (route_localnet is on)
        self.node_ips: dict[str, tuple[str, ...]] = {}  # Node name -> its InternalIPs
        self.ipt = ipt
        self.config = config
        self.service_cidr = service_cidr
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.burst = max(1, burst)
        self.services: dict[str, Service] = {}
        self.slices: dict[str, dict[str, EndpointSlice]] = {}  # service key -> slice key
        self._slice_owner: dict[str, str] = {}  # slice key -> service key
        self._fingerprints: dict[str, Hashable] = {}
        self._endpoints: dict[str, list[rules.EndpointInfo]] = {}
        self._ports: dict[str, rules.ServicePortInfo] = {}
        self._active: set[str] = set()
        self._top: dict[tuple[str, str], tuple[str, ...]] = {}  # the last sync's top chains
        # per Service: its ports with their endpoints, and their fingerprint
        self._computed: dict[str, tuple[list[tuple[rules.ServicePortInfo,
                                                   list[rules.EndpointInfo]]], Hashable]] = {}
        self._touched: set[str] = set()  # Services whose object or slices changed
        self._need_full = True
        self._dirty = asyncio.Event()
        self._tokens = float(self.burst)
        self._token_time = time.monotonic()
        self._last_full = 0.0
        self.stats = SyncStats()
        # every change bumps ``generation``; a sync applies what it saw when it started
        self.generation = 0
        self.applied_generation = 0
        self.first_sync = asyncio.Event()

    # ---- informer handlers ------------------------------------------------------------

    def request_sync(self) -> None:
        self.generation += 1
        if not self.stats.last_queued:
            self.stats.last_queued = time.time()
        self._dirty.set()

    def on_service(self, svc: Service, new: Service | None = None) -> None:
        svc = new or svc
        key = _key(svc.metadata.namespace, svc.metadata.name)
        self.services[key] = svc
        self._touched.add(key)
        self.request_sync()

    def on_service_delete(self, svc: Service) -> None:
        key = _key(svc.metadata.namespace, svc.metadata.name)
        self.services.pop(key, None)
        self._touched.add(key)
        self.request_sync()

    def on_slice(self, sl: EndpointSlice, new: EndpointSlice | None = None) -> None:
        sl = new or sl
        skey = _key(sl.metadata.namespace, sl.metadata.name)
        owner = (sl.metadata.labels or {}).get(LABEL_SERVICE_NAME)
        self._drop_slice(skey)
        if owner:
            svc_key = _key(sl.metadata.namespace, owner)
            self.slices.setdefault(svc_key, {})[skey] = sl
            self._slice_owner[skey] = svc_key
            self._touched.add(svc_key)
        self.request_sync()

    def on_slice_delete(self, sl: EndpointSlice) -> None:
        self._drop_slice(_key(sl.metadata.namespace, sl.metadata.name))
        self.request_sync()

    def on_node(self, node: Node, new: Node | None = None) -> None:
        node = new or node
        addrs = node.status.addresses if node.status and node.status.addresses else []
        ips = tuple(sorted(a.address for a in addrs
                           if a.type == "InternalIP" and ":" not in a.address))
        name = node.metadata.name or ""
        if self.node_ips.get(name) != ips:
            self.node_ips[name] = ips
            self.request_sync()

    def on_node_delete(self, node: Node) -> None:
        if self.node_ips.pop(node.metadata.name or "", None) is not None:
            self.request_sync()

    def node_addresses(self) -> tuple[str, ...]:
        return tuple(sorted({ip for ips in self.node_ips.values() for ip in ips}))

    async def check_guards(self) -> None:
        self.stats.guard_checks += 1
        self.stats.guards_reinserted += await ensure_guards(self.ipt, self.service_cidr)
        if self.localnet:
            self.stats.guards_reinserted += await ensure_localnet_guard(self.ipt)

    def _drop_slice(self, skey: str) -> None:
        owner = self._slice_owner.pop(skey, None)
        if owner is not None:
            self._touched.add(owner)
            per = self.slices.get(owner, {})
            per.pop(skey, None)
            if not per:
                self.slices.pop(owner, None)

    # ---- one sync -----------------------------------------------------------------------

    def compute(self, full: bool = False) -> tuple[
            list[rules.ServicePortInfo], dict[str, list[rules.EndpointInfo]],
            dict[str, Hashable]]:
        """Every service port, its endpoints and a fingerprint per Service. Only the Services
        whose object or slices changed since the last call are recomputed (kube-proxy's
        change trackers), unless ``full``."""
        touched, self._touched = self._touched, set()
        if full:
            self._computed.clear()
        ports: list[rules.ServicePortInfo] = []
        eps: dict[str, list[rules.EndpointInfo]] = {}
        fps: dict[str, Hashable] = {}
        for key, svc in self.services.items():
            cached = self._computed.get(key)
            if cached is None or key in touched:
                sps = rules.service_ports(svc)
                slices = list(self.slices.get(key, {}).values())
                per = [(sp, rules.slice_endpoints(slices, sp.port_name, sp.protocol,
                                                  self.local_nodes))
                       for sp in sps]
                cached = self._computed[key] = (
                    per, tuple((sp, tuple(e)) for sp, e in per))
            per, fp = cached
            if not per:
                continue
            for sp, e in per:
                eps[sp.name_string] = e
                ports.append(sp)
            fps[key] = fp
        for key in touched - self.services.keys():
            self._computed.pop(key, None)
        return ports, eps, fps

    async def sync(self, full: bool | None = None) -> rules.Ruleset:
        """One sync now (the loop calls this; tests and the benchmark may too)."""
        start = time.perf_counter()
        full = self._need_full if full is None else full
        queued = self.stats.last_queued
        self.stats.last_queued = 0.0
        generation = self.generation
        try:
            if full:  # partial syncs leave the guards to the timer (check_guards)
                await self.check_guards()
            ports, eps, fps = self.compute(full)
            changed = None if full else {
                k for k in fps.keys() | self._fingerprints.keys()
                if fps.get(k) != self._fingerprints.get(k)}
            node_ips = self.node_addresses()
            if self.nft is not None:
                t0 = time.perf_counter()
                ruleset = await self.nft.sync(ports, eps, self.config, node_ips, changed)
                self.stats.last_restore_duration = time.perf_counter() - t0
            else:
                stale = set(self._active)
                if full:
                    stale |= await self.ipt.chains("nat")
                ruleset = rules.build(ports, eps, self.config, changed=changed,
                                      stale_chains=stale, previous_top=self._top,
                                      node_ips=node_ips)
                t0 = time.perf_counter()
                if ruleset.text.strip():  # nothing changed: nothing to restore
                    await self.ipt.restore(ruleset.text)
                self.stats.last_restore_duration = time.perf_counter() - t0
                if full:  # the restore made the top-level chains: now the jumps to them
                    await ensure_jumps(self.ipt, create_chains=False)
        except (IptablesError, OSError):
            self._need_full = True
            self.stats.failures += 1
            if queued and not self.stats.last_queued:
                self.stats.last_queued = queued
            raise
        await self._clear_udp_conntrack(ports, eps)
        if self.health is not None:
            await self._sync_health(ports, eps)
        self._fingerprints = fps
        self._active = ruleset.active_nat_chains
        self._top = ruleset.top
        self._need_full = False
        self.applied_generation = generation
        if full:
            self._last_full = time.monotonic()
            self.stats.full_syncs += 1
        st = self.stats
        st.syncs += 1
        st.last_duration = time.perf_counter() - start
        st.durations = [*st.durations[-999:], st.last_duration]
        st.last_synced = time.time()
        st.last_ruleset_rules = ruleset.rules
        st.last_service_chains_written = ruleset.written_service_chains
        st.last_chains_deleted = ruleset.deleted_chains
        self.first_sync.set()
        log.debug("synced %s: %d rules, %d service chains written, %d deleted, %.1f ms",
                  "fully" if full else "partially", ruleset.rules,
                  ruleset.written_service_chains, ruleset.deleted_chains,
                  st.last_duration * 1000)
        return ruleset

    async def _sync_health(self, ports: list[rules.ServicePortInfo],
                           eps: dict[str, list[rules.EndpointInfo]]) -> None:
        """The health-check node ports and each one's count of local endpoints (distinct
        IPs over the Service's ports: LocalReadyEndpoints)."""
        assert self.health is not None
        hc: dict[str, int] = {}
        local: dict[str, set[str]] = {}
        for sp in ports:
            if sp.health_check_node_port:
                hc[sp.service_key] = sp.health_check_node_port
                local.setdefault(sp.service_key, set()).update(
                    e.ip for e in eps.get(sp.name_string, ()) if e.local)
        await self.health.sync_services(hc)
        self.health.sync_endpoints({k: len(v) for k, v in local.items()})

    async def _clear_udp_conntrack(self, ports: list[rules.ServicePortInfo],
                                   eps: dict[str, list[rules.EndpointInfo]]) -> None:
        """UDP has no connection to end: entries NATed to a removed endpoint would keep
        sending there, and entries made while the Service had no endpoints (rejected) would
        keep failing. kube-proxy deletes both (conntrack.CleanStaleEntries); so do we when
        the ``conntrack`` tool is installed."""
        old_ports, old_eps = self._ports, self._endpoints
        self._ports = {p.name_string: p for p in ports}
        self._endpoints = eps
        if not self.ipt.has_conntrack:
            return
        for name, sp in old_ports.items():
            if sp.protocol != "UDP":
                continue
            new = self._endpoints.get(name, []) if name in self._ports else []
            for ep in set(old_eps.get(name, [])) - set(new):
                for vip in _vips(sp):
                    await self.ipt.conntrack_delete(["--orig-dst", vip, "-p", "udp",
                                                     "--dst-nat", ep.ip])
        for name, sp in self._ports.items():
            if sp.protocol == "UDP" and eps.get(name) and not old_eps.get(name):
                for vip in _vips(sp):
                    await self.ipt.conntrack_delete(["--orig-dst", vip, "-p", "udp"])

    # ---- the loop -----------------------------------------------------------------------

    def _take_token(self) -> float:
        """0 when a sync may run now (and takes the token), else how long to wait."""
        now = time.monotonic()
        if self.min_sync_period > 0:
            self._tokens = min(float(self.burst),
                               self._tokens + (now - self._token_time) / self.min_sync_period)
        else:
            self._tokens = float(self.burst)
        self._token_time = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * self.min_sync_period

    async def run(self, stop: asyncio.Event) -> None:
        """Sync when asked (rate-limited) and fully every ``sync_period``, until ``stop``."""
        self._dirty.set()
        guards = asyncio.create_task(self._guard_loop(stop))
        try:
            await self._run(stop)
        finally:
            guards.cancel()

    async def _guard_loop(self, stop: asyncio.Event) -> None:
        """The guards re-checked every ``guard_check_period``, off the sync path."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.guard_check_period)
                return
            except TimeoutError:
                pass
            try:
                await self.check_guards()
            except (IptablesError, OSError) as exc:
                log.error("guard check failed: %s", exc)

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            until_full = self._last_full + self.sync_period - time.monotonic()
            if not self._dirty.is_set() and until_full > 0:
                waiter = asyncio.ensure_future(self._dirty.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=until_full,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            delay = self._take_token()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                continue
            self._dirty.clear()
            if time.monotonic() - self._last_full >= self.sync_period:
                self._need_full = True
            try:
                await self.sync()
            except (IptablesError, OSError) as exc:
                log.error("sync failed (a full sync follows): %s", exc)
                self._dirty.set()

    def healthy(self) -> bool:
        """kube-proxy's /healthz: unhealthy while a change waits longer than twice the
        sync period, or before the first sync once something is queued."""
        st = self.stats
        if st.last_queued and time.time() - st.last_queued > 2 * self.sync_period:
            return False
        return True
