"""The node's network agent: flannel's host-gw backend driven by the Node objects.

Every sync (on a Node event, and every ``resync_period`` so that what was deleted behind
the agent's back comes back) makes the node's state match the Nodes, in this order:

1. the leak guard (filter chain + jumps) and ``unreachable <cluster-cidr>``: before any
   route, and already before the first Node is seen (``install_guard``);
2. the CNI config once the node's podCIDR is known (written to a temporary file and
   renamed, so that the runtime never reads half of it);
3. the masquerade of the node's own pods toward non-cluster addresses;
4. one route ``podCIDR via InternalIP dev IFACE`` per other Node that has both (replaced
   when the address changed, removed with the Node).

On a resync each step reads the kernel's state back (``iptables-save``, ``ip -j route``, the
file) and writes only what differs, so an intact node is left alone and keeps its counters;
a Node event only writes what the Nodes changed since the last pass (the guard chain, one
route), without reading anything back, so that a new peer is routed within a few commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from api.models import Node
from netagent import rules
from netagent.runner import CommandError, Runner

log = logging.getLogger(__name__)


@dataclass
class Config:
    node_name: str
    cluster_cidr: str
    cni_conf_dir: str = "/etc/cni/net.d"
    bridge: str = rules.DEFAULT_BRIDGE
    iface: str | None = None  # None: the interface holding the Node's InternalIP
    ipam_data_dir: str = ""
    resync_period: float = 10.0


@dataclass
class Stats:
    syncs: int = 0
    failures: int = 0
    last_synced: float = 0.0  # time.time() of the last successful sync
    repairs: int = 0  # rules, routes or files found different from what they should be
    last_error: str = ""
    routes: dict[str, rules.Route] = field(default_factory=dict)
    route_errors: dict[str, str] = field(default_factory=dict)  # podCIDR -> why not routed


def pod_cidr_of(node: Node) -> str | None:
    spec = node.spec
    if spec is None:
        return None
    cidrs = list(spec.pod_cidrs or []) or ([spec.pod_cidr] if spec.pod_cidr else [])
    for c in cidrs:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            continue
        if net.version == 4:
            return str(net)
    return None


def internal_ip(node: Node) -> str | None:
    for a in (node.status.addresses if node.status else None) or []:
        if a.type == "InternalIP":
            try:
                if ipaddress.ip_address(a.address).version == 4:
                    return a.address
            except ValueError:
                continue
    return None


class NetAgent:
    def __init__(self, runner: Runner, config: Config,
                 nodes: Callable[[], Iterable[Node]]) -> None:
        self.runner = runner
        self.config = config
        self.cluster = rules.cidr(config.cluster_cidr)
        self.nodes = nodes
        self.stats = Stats()
        self.own_cidr: str | None = None
        self.iface: str | None = config.iface
        self._iface_ip: str | None = None
        self._own_ip: str | None = None
        self._dirty = asyncio.Event()
        # table -> the chains' rules last written or verified (the incremental syncs)
        self._applied: dict[str, dict[str, list[str]]] = {}

    def kick(self, *_args: object) -> None:
        """A Node came or went: sync soon (the informer's add and delete handler)."""
        self._dirty.set()

    def on_update(self, old: Node, new: Node) -> None:
        """A Node changed: sync only if what the agent uses did (its podCIDR, its address);
        the kubelets' status heartbeats change neither."""
        if (pod_cidr_of(old), internal_ip(old)) != (pod_cidr_of(new), internal_ip(new)):
            self._dirty.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sync on every change and every resync period until ``stop``; after a failure
        again within a second."""
        full = True
        while not stop.is_set():
            self._dirty.clear()
            ok = await self.sync_once(full)
            wait = self.config.resync_period if ok else min(1.0, self.config.resync_period)
            dirty = asyncio.ensure_future(self._dirty.wait())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({dirty, stopped}, timeout=wait,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (dirty, stopped):
                    t.cancel()
            # a Node event: write what changed; the resync period (or a failure): check all
            full = not ok or not self._dirty.is_set()

    # ---- health -------------------------------------------------------------------------

    def healthy(self) -> bool:
        if not self.stats.last_synced:
            return False
        return time.time() - self.stats.last_synced < max(3 * self.config.resync_period, 30)

    # ---- the state wanted --------------------------------------------------------------

    def _peers(self) -> dict[str, tuple[str, str]]:
        """node name -> (podCIDR, InternalIP) of every other Node that has both; own podCIDR
        noted on the way."""
        peers: dict[str, tuple[str, str]] = {}
        own: str | None = None
        self._own_ip = None
        for node in self.nodes():
            name = node.metadata.name or ""
            pc = pod_cidr_of(node)
            if name == self.config.node_name:
                own = pc
                self._own_ip = internal_ip(node)
                continue
            ip = internal_ip(node)
            if pc and ip:
                peers[name] = (pc, ip)
        self.own_cidr = own
        return peers

    async def _find_iface(self) -> str | None:
        if self.config.iface:
            return self.config.iface
        ip = self._own_ip
        if ip is None:
            return self.iface  # not known (yet): keep the last one found
        if ip == self._iface_ip and self.iface:
            return self.iface
        for link in await self.runner.ip_json("-4", "addr", "show"):
            for a in link.get("addr_info") or []:
                if a.get("local") == ip:
                    self.iface, self._iface_ip = str(link.get("ifname")), ip
                    log.info("node interface %s (holds %s)", self.iface, ip)
                    return self.iface
        log.warning("no interface holds the node's InternalIP %s", ip)
        return self.iface

    # ---- the steps ---------------------------------------------------------------------

    async def _ensure_chains(self, table: str, wanted: dict[str, list[str]],
                             jumps: Iterable[rules.Jump], full: bool = True) -> None:
        """Make the chains hold ``wanted`` and the jumps to them exist. ``full``: read the
        table and compare (what someone else changed comes back); else trust what was
        written last and write only if the wanted rules differ from it."""
        if not full:
            if self._applied.get(table) != wanted:
                await self.runner.restore(rules.restore_text({table: wanted}))
                self._applied[table] = wanted
            return
        saved = await self.runner.save(table)
        if any(rules.chain_rules(saved, c) != r or f":{c} " not in saved
               for c, r in wanted.items()):
            await self.runner.restore(rules.restore_text({table: wanted}))
            self.stats.repairs += 1
        self._applied[table] = wanted
        # (a restore of our own chains leaves the built-in chains, and the jumps, as saved)
        for j in jumps:
            if j.table != table:
                continue
            line = f'-A {j.chain} -m comment --comment "{j.comment}" -j {j.target}'
            if line not in saved.splitlines():
                await self.runner.iptables("-t", table, "-I", j.chain, "1", *j.args())
                self.stats.repairs += 1

    async def _ensure_guard(self, peers: Iterable[str], full: bool = True) -> None:
        wanted = {rules.CHAIN: rules.guard_rules(self.cluster, self.own_cidr,
                                                 self.config.bridge, self.iface, peers)}
        await self._ensure_chains("filter", wanted, rules.NODE_JUMPS, full)

    async def _routes(self) -> tuple[bool, dict[str, rules.Route]]:
        """(the unreachable route is there, our other routes by destination)."""
        unreachable = False
        ours: dict[str, rules.Route] = {}
        for r in await self.runner.ip_json("-4", "route", "show", "proto", rules.ROUTE_PROTO):
            dst = str(r.get("dst", ""))
            if r.get("type") == "unreachable":
                unreachable = unreachable or dst == self.cluster
            elif r.get("gateway"):
                ours[dst] = rules.Route(dst, str(r["gateway"]), str(r.get("dev", "")))
        return unreachable, ours

    async def _ensure_unreachable(self) -> None:
        unreachable, _ = await self._routes()
        if not unreachable:
            await self.runner.ip("route", "replace", "unreachable", self.cluster,
                                 "proto", rules.ROUTE_PROTO)
            self.stats.repairs += 1

    async def install_guard(self) -> None:
        """The guard before any route. A guard already there (an agent restarted) is kept as
        it is until the first sync: rewriting it with what is known at start (nothing) would
        cut the node's pods off their peers for that time."""
        saved = await self.runner.save("filter")
        tail = rules.guard_rules(self.cluster, None, self.config.bridge, None, ())[-2:]
        if rules.chain_rules(saved, rules.CHAIN)[-2:] == tail:
            for j in rules.NODE_JUMPS:
                line = f'-A {j.chain} -m comment --comment "{j.comment}" -j {j.target}'
                if j.table == "filter" and line not in saved.splitlines():
                    await self.runner.iptables("-t", "filter", "-I", j.chain, "1", *j.args())
                    self.stats.repairs += 1
        else:
            await self._ensure_guard(())
        await self._ensure_unreachable()

    def _write_if_changed(self, name: str, text: str) -> None:
        path = os.path.join(self.config.cni_conf_dir, name)
        with contextlib.suppress(OSError), open(path) as f:
            if f.read() == text:
                return
        os.makedirs(self.config.cni_conf_dir, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.stats.repairs += 1
        log.info("wrote %s", path)

    def _ensure_cni(self) -> None:
        if not self.own_cidr:
            return
        self._write_if_changed(rules.CONFLIST_NAME, rules.dumps(rules.conflist(
            self.own_cidr, self.config.bridge, ipam_data_dir=self.config.ipam_data_dir)))
        self._write_if_changed(rules.LOOPBACK_NAME, rules.dumps(rules.loopback_conf()))

    async def _ensure_masquerade(self, full: bool = True) -> None:
        wanted = {rules.MASQ_CHAIN: rules.masq_rules(self.cluster, self.own_cidr)}
        await self._ensure_chains("nat", wanted, rules.NODE_JUMPS, full)

    async def _ensure_routes(self, peers: dict[str, tuple[str, str]],
                             full: bool = True) -> None:
        if full:
            unreachable, have = await self._routes()
        else:  # what was installed last
            unreachable, have = True, dict(self.stats.routes)
        if not unreachable:
            await self.runner.ip("route", "replace", "unreachable", self.cluster,
                                 "proto", rules.ROUTE_PROTO)
            self.stats.repairs += 1
        want = rules.peer_routes(peers, self.iface) if self.iface else {}
        installed = {dst: r for dst, r in want.items() if have.get(dst) == r}
        todo = [r for dst, r in want.items() if have.get(dst) != r]
        gone = sorted(set(have) - set(want))
        errors: dict[str, str] = {}
        if todo or gone:
            # one `ip -batch` for the lot (a burst of new Nodes is one command, not one each)
            batch = [f"route replace {' '.join(r.argv())}" for r in todo]
            batch += [f"route del {dst} proto {rules.ROUTE_PROTO}" for dst in gone]
            rc, _ = await self.runner.run(["ip", "-force", "-batch", "-"],
                                          stdin="\n".join(batch) + "\n", check=False)
            for r in todo:
                if rc != 0:  # which one failed: each again on its own
                    try:
                        await self.runner.ip("route", "replace", *r.argv())
                    except CommandError as exc:
                        # a peer the kernel will not route to (an address off this node's
                        # link: host-gw needs the nodes on one) must not stall the others;
                        # tried again on each sync and reported in /healthz
                        errors[r.dst] = str(exc)
                        if self.stats.route_errors.get(r.dst) != str(exc):
                            log.error("route %s via %s: %s", r.dst, r.via, exc)
                        continue
                installed[r.dst] = r
                log.info("route %s via %s dev %s", r.dst, r.via, r.dev)
            for dst in gone:
                log.info("route %s removed", dst)
            self.stats.repairs += len(todo) + len(gone) - len(errors)
        self.stats.routes = installed
        self.stats.route_errors = errors

    async def sync(self, full: bool = True) -> None:
        """One pass over the steps; ``full`` reads the kernel's state back (the resync),
        otherwise only what the Nodes changed since the last pass is written."""
        peers = self._peers()
        self.iface = await self._find_iface()
        # the guard (with the peers' RETURNs) before the routes to them
        await self._ensure_guard((p[0] for p in peers.values()), full)
        self._ensure_cni()
        await self._ensure_masquerade(full)
        await self._ensure_routes(peers, full)

    async def sync_once(self, full: bool = True) -> bool:
        t0 = time.monotonic()
        try:
            await self.sync(full)
        except (CommandError, OSError) as exc:
            self._applied.clear()
            self.stats.failures += 1
            self.stats.last_error = str(exc)
            log.error("sync failed: %s", exc)
            return False
        self.stats.syncs += 1
        self.stats.last_synced = time.time()
        self.stats.last_error = ""
        log.debug("synced in %.3fs", time.monotonic() - t0)
        return True


# ---- the host's guard, and cleanup -------------------------------------------------------

async def install_host_guard(runner: Runner, cluster_cidr: str, node_bridge: str) -> int:
    """The Docker host's chain (once, in the host's namespace): what stays on the nodes'
    bridge passes, any other packet to or from the cluster CIDR is REJECTed. How many
    chains or jumps were (re)written."""
    wanted = {rules.HOST_CHAIN: rules.host_rules(rules.cidr(cluster_cidr), node_bridge)}
    saved = await runner.save("filter")
    n = 0
    if rules.chain_rules(saved, rules.HOST_CHAIN) != wanted[rules.HOST_CHAIN] or \
            f":{rules.HOST_CHAIN} " not in saved:
        await runner.restore(rules.restore_text({"filter": wanted}))
        n += 1
    for j in rules.HOST_JUMPS:
        line = f'-A {j.chain} -m comment --comment "{j.comment}" -j {j.target}'
        if line not in saved.splitlines():
            await runner.iptables("-t", j.table, "-I", j.chain, "1", *j.args())
            n += 1
    return n


async def _delete_chains(runner: Runner, jumps: Iterable[rules.Jump]) -> int:
    jumps = list(jumps)
    deleted = 0
    for table in sorted({j.table for j in jumps}):
        for j in jumps:
            if j.table != table:
                continue
            for _ in range(100):  # every copy of the jump
                if await runner.iptables("-t", table, "-D", j.chain, *j.args(),
                                         check=False) != 0:
                    break
        saved = await runner.save(table)
        chains = sorted({j.target for j in jumps if j.table == table
                         and f":{j.target} " in saved})
        if chains:
            await runner.restore("\n".join([f"*{table}", *(f":{c} - [0:0]" for c in chains),
                                             *(f"-X {c}" for c in chains), "COMMIT", ""]))
            deleted += len(chains)
    return deleted


async def cleanup(runner: Runner, *, host: bool = False, cni_conf_dir: str | None = None
                  ) -> int:
    """Remove what the agent added: its chains and their jumps, its routes (proto 77,
    the unreachable one included) and, given the directory, its CNI config files. How many
    chains were deleted."""
    if host:
        return await _delete_chains(runner, rules.HOST_JUMPS)
    n = await _delete_chains(runner, rules.NODE_JUMPS)
    await runner.ip("-4", "route", "flush", "proto", rules.ROUTE_PROTO, check=False)
    if cni_conf_dir:
        for name in (rules.CONFLIST_NAME, rules.LOOPBACK_NAME):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(cni_conf_dir, name))
    return n
