"""The policy agent's state and its syncs: informer events mark what changed, a sync
recomputes only the policies they touch and writes only the difference (``ipset restore``
of the changed members, ``iptables-restore --noflush`` of the changed chains)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from api.wellknown import NAMESPACE_NAME_LABEL
from proxy.iptables import Iptables, IptablesError, chains_in
from proxy.netpol import rules
from proxy.netpol.rules import Cluster, PodInfo, Policy, SetDef

log = logging.getLogger("netpol")

SetState = dict[str, tuple[str, frozenset[str]]]


@dataclass
class Stats:
    syncs: int = 0
    full_syncs: int = 0
    failures: int = 0
    last_duration: float = 0.0
    last_synced: float = 0.0
    last_ipset_lines: int = 0
    last_iptables_lines: int = 0


def ipset_text(old: SetState, new: SetState,
               only: set[str] | None = None) -> tuple[str, list[str]]:
    """``ipset restore`` input that turns ``old`` into ``new`` (creates and member adds and
    deletes; only the sets named in ``only``, when given), and the sets to destroy once no
    rule refers to them."""
    lines: list[str] = []
    for name, (typ, entries) in new.items():
        if only is not None and name not in only:
            continue
        prev = old.get(name)
        if prev is None or prev[0] != typ:
            # a set in an unknown state (adopted from an earlier run, or after a failed
            # sync) is created if missing, then emptied: one error would abort the restore
            extra = " family inet" if typ != "hash:ip,port" else ""
            lines.append(f"create {name} {typ}{extra} -exist")
            if prev is not None:
                lines.append(f"flush {name}")
            before: frozenset[str] = frozenset()
        else:
            before = prev[1]
        for e in before - entries:
            lines.append(f"del {name} {e.split(' ', 1)[0]} -exist")
        for e in entries - before:
            lines.append(f"add {name} {e} -exist")
    gone = [n for n in old if n not in new]
    return "\n".join(lines) + ("\n" if lines else ""), gone


def iptables_text(old: dict[str, list[str]], new: dict[str, list[str]]) -> str:
    """``iptables-restore --noflush`` input for the filter table: the chains whose rules
    changed (declared, hence flushed, then refilled) and the chains that went away."""
    changed = [c for c, r in new.items() if old.get(c) != r]
    gone = [c for c in old if c not in new]
    if not changed and not gone:
        return ""
    out = ["*filter"]
    out += [f":{c} - [0:0]" for c in changed + gone]
    for c in changed:
        out += new[c]
    out += [f"-X {c}" for c in gone]
    out.append("COMMIT")
    return "\n".join(out) + "\n"


class Agent:
    def __init__(self, ipt: Iptables, *, min_sync_period: float = 0.0,
                 resync_period: float = 30.0) -> None:
        self.ipt = ipt
        self.cluster = Cluster()
        self.policies: dict[str, Policy] = {}
        self.policy_raw: dict[str, Any] = {}
        self.min_sync_period = min_sync_period
        self.resync_period = resync_period
        # what the kernel holds (after the last successful sync)
        self.sets: SetState = {}
        self.chains: dict[str, list[str]] = {}
        # the sets the policies use (shared by content), their users and members
        self.defs: dict[str, SetDef] = {}
        self.refs: dict[str, int] = {}
        self.members: dict[str, set[str]] = {}
        self._chains: dict[str, dict[str, list[str]]] = {}  # per policy
        self._dirty_sets: set[str] = set()
        self._policies_changed = True
        self._full = True
        self.wake = asyncio.Event()
        self.stats = Stats()
        self.synced_once = asyncio.Event()

    # ---- events --------------------------------------------------------------------

    def _kick(self) -> None:
        self.wake.set()

    def set_pod(self, info: PodInfo | None, namespace: str, name: str) -> None:
        old = (self.cluster.set_pod(info) if info is not None
               else self.cluster.delete_pod(namespace, name))
        if old == info:
            return
        labels = self.cluster.ns_labels
        for sname, sd in self.defs.items():
            if sd.kind == "block" or (not sd.all_ns and sd.namespace != namespace):
                continue
            before, after = sd.entries(old, labels), sd.entries(info, labels)
            if before != after:
                m = self.members[sname]
                m -= before - after
                m |= after
                self._dirty_sets.add(sname)
        self._kick()

    def on_pod(self, obj: Any, new: Any = None) -> None:
        pod = new if new is not None else obj
        md = pod.metadata
        self.set_pod(rules.pod_info(pod), md.namespace or "", md.name or "")

    def on_pod_delete(self, obj: Any) -> None:
        md = obj.metadata
        self.set_pod(None, md.namespace or "", md.name or "")

    def _namespace_changed(self) -> None:
        for sname, sd in self.defs.items():
            if sd.all_ns:
                m = self.cluster.members(sd)
                if m != self.members[sname]:
                    self.members[sname] = m
                    self._dirty_sets.add(sname)
        self._kick()

    def on_namespace(self, obj: Any, new: Any = None) -> None:
        ns = new if new is not None else obj
        name = ns.metadata.name or ""
        # the label Kubernetes puts on every namespace (the usual way to select kube-system
        # for DNS), counted here even where the API server has not set it
        labels = {**(ns.metadata.labels or {}), NAMESPACE_NAME_LABEL: name}
        if self.cluster.ns_labels.get(name) != labels:
            self.cluster.ns_labels[name] = labels
            self._namespace_changed()

    def on_namespace_delete(self, obj: Any) -> None:
        if self.cluster.ns_labels.pop(obj.metadata.name or "", None) is not None:
            self._namespace_changed()

    def _release(self, pol: Policy) -> None:
        for name in pol.sets:
            self.refs[name] -= 1
            if not self.refs[name]:
                del self.refs[name], self.defs[name], self.members[name]
                self._dirty_sets.discard(name)

    def set_policy(self, raw: dict[str, Any]) -> None:
        md = raw.get("metadata") or {}
        key = f"{md.get('namespace')}/{md.get('name')}"
        if key in self.policy_raw and self.policy_raw[key] == raw.get("spec"):
            return
        pol = rules.parse_policy(raw)
        for name, sd in pol.sets.items():  # acquire first: a shared set keeps its members
            if name not in self.defs:
                self.defs[name], self.refs[name] = sd, 0
                self.members[name] = self.cluster.members(sd)
                self._dirty_sets.add(name)
            self.refs[name] += 1
        if (old := self.policies.get(key)) is not None:
            self._release(old)
        self.policy_raw[key] = raw.get("spec")
        self.policies[key] = pol
        self._chains[key] = rules.policy_chains(pol)
        self._policies_changed = True
        self._kick()

    def delete_policy(self, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        if (old := self.policies.pop(key, None)) is not None:
            self.policy_raw.pop(key, None)
            self._chains.pop(key, None)
            self._release(old)
            self._policies_changed = True
            self._kick()

    def on_policy(self, obj: Any, new: Any = None) -> None:
        self.set_policy((new if new is not None else obj).to_dict())

    def on_policy_delete(self, obj: Any) -> None:
        self.delete_policy(obj.metadata.namespace or "", obj.metadata.name or "")

    # ---- computing ------------------------------------------------------------------

    def _desired(self) -> tuple[SetState, dict[str, list[str]], set[str]]:
        """The desired sets (frozen only where they changed), chains, and the names of
        the sets whose members may differ from the kernel's."""
        full, self._full = self._full, False
        dirty, self._dirty_sets = self._dirty_sets, set()
        policies_changed, self._policies_changed = self._policies_changed, False
        if full:
            dirty = set(self.defs)
        sets: SetState = {}
        for name, sd in self.defs.items():
            prev = self.sets.get(name)
            if name in dirty or prev is None:
                sets[name] = (sd.ipset_type, frozenset(self.members[name]))
            else:
                sets[name] = prev
        iso_dirty = full or policies_changed or any(
            p.target.name in dirty for p in self.policies.values())
        if iso_dirty:
            iso_in: set[str] = set()
            iso_out: set[str] = set()
            for pol in self.policies.values():
                if pol.ingress is not None:
                    iso_in |= self.members[pol.target.name]
                if pol.egress is not None:
                    iso_out |= self.members[pol.target.name]
            sets[rules.ISO_IN] = ("hash:ip", frozenset(iso_in))
            sets[rules.ISO_OUT] = ("hash:ip", frozenset(iso_out))
            dirty |= {rules.ISO_IN, rules.ISO_OUT}
        else:
            sets[rules.ISO_IN] = self.sets[rules.ISO_IN]
            sets[rules.ISO_OUT] = self.sets[rules.ISO_OUT]
        if full or policies_changed:
            chains = rules.dispatch_chains(self.policies.values())
            for c in self._chains.values():
                chains.update(c)
        else:
            chains = self.chains
        if full or policies_changed:
            dirty |= set(self.sets) | set(sets)  # creates and destroys
        return sets, chains, dirty

    # ---- writing --------------------------------------------------------------------

    async def ipset(self, text: str) -> None:
        if text:
            await self.ipt.run(["ipset", "restore"], stdin=text.encode())

    async def ensure_jump(self) -> None:
        await self.ipt.ensure_chain("filter", rules.TOP_CHAIN)
        await self.ipt.ensure_rule_first("filter", "FORWARD", rules.JUMP_ARGS)

    async def sync(self) -> None:
        t0 = time.monotonic()
        full = self._full
        sets, chains, dirty = self._desired()
        set_text, gone_sets = ipset_text(self.sets, sets, dirty)
        ipt_text = iptables_text(self.chains, chains)
        try:
            await self.ipset(set_text)
            if ipt_text:
                await self.ipt.restore(ipt_text)
            if full:
                await self.ensure_jump()
            if gone_sets:
                await self.ipset("".join(f"destroy {n}\n" for n in gone_sets))
        except IptablesError as exc:
            self.stats.failures += 1
            log.error("sync failed, a full one follows: %s", exc)
            self._full = True
            self.sets = {n: ("?", frozenset()) for n in self.sets}
            self.chains = {c: ["#"] for c in self.chains}
            raise
        self.sets, self.chains = sets, chains
        self.stats.syncs += 1
        self.stats.full_syncs += full
        self.stats.last_ipset_lines = set_text.count("\n")
        self.stats.last_iptables_lines = ipt_text.count("\n")
        self.stats.last_duration = time.monotonic() - t0
        self.stats.last_synced = time.time()
        self.synced_once.set()
        log.debug("sync (%s): %d ipset lines, %d iptables lines, %.1f ms",
                  "full" if full else "partial", self.stats.last_ipset_lines,
                  self.stats.last_iptables_lines, self.stats.last_duration * 1000)

    async def adopt(self) -> None:
        """Before the first sync: what an earlier run left is rewritten from scratch (its
        chains are declared again, its sets refilled), and what it had that is no longer
        wanted is removed by that first sync."""
        saved = await self.ipt.save("filter")
        self.chains = {c: ["#"] for c in chains_in(saved) if c.startswith(rules.PREFIX)}
        _, out = await self.ipt.run(["ipset", "list", "-n"])
        self.sets = {n: ("?", frozenset()) for n in out.decode().split()
                     if n.startswith(rules.PREFIX)}
        self._full = True

    async def run(self, stop: asyncio.Event) -> None:
        await self.adopt()
        last = 0.0
        while not stop.is_set():
            wait = max(0.0, last + self.min_sync_period - time.monotonic())
            if wait:
                await asyncio.sleep(wait)
            self.wake.clear()
            last = time.monotonic()
            try:
                await self.sync()
            except IptablesError:
                await asyncio.sleep(1.0)
                continue
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            done, pending = await asyncio.wait({waiter, stopper},
                                               timeout=self.resync_period,
                                               return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            if not done:  # periodic: everything again, and the jump checked
                self._full = True


async def cleanup(ipt: Iptables) -> tuple[int, int]:
    """Remove the jump, every MK8S-NP chain and set: (chains, sets) removed."""
    await ipt.delete_rule("filter", "FORWARD", rules.JUMP_ARGS)
    ours = sorted(c for c in chains_in(await ipt.save("filter"))
                  if c.startswith(rules.PREFIX))
    if ours:
        text = "\n".join(["*filter", *(f":{c} - [0:0]" for c in ours),
                          *(f"-X {c}" for c in ours), "COMMIT", ""])
        await ipt.restore(text)
    rc, out = await ipt.run(["ipset", "list", "-n"], check=False)
    sets = [n for n in out.decode().split() if n.startswith(rules.PREFIX)] if rc == 0 else []
    if sets:
        await ipt.run(["ipset", "restore"],
                      stdin="".join(f"destroy {n}\n" for n in sets).encode())
    return len(ours), len(sets)
