"""The iptables commands the proxy runs (kube-proxy's pkg/util/iptables, the few verbs
it needs), as asyncio subprocesses so that a long restore never stalls the informers.

``netns`` runs every command in a named network namespace (``ip netns exec``): the
benchmark and some tests use a private one to keep the host's tables clean.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
from collections.abc import Sequence

from proxy import rules

log = logging.getLogger(__name__)

WAIT = ["-w", "5"]  # wait for the xtables lock (legacy backend) instead of failing


class IptablesError(RuntimeError):
    pass


class Iptables:
    def __init__(self, netns: str | None = None, binary: str = "iptables") -> None:
        self.netns = netns
        self.binary = binary
        self.restore_binary = f"{binary}-restore"
        self.save_binary = f"{binary}-save"
        self.has_conntrack = shutil.which("conntrack") is not None

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + list(argv)

    async def run(self, argv: Sequence[str], stdin: bytes | None = None,
                  check: bool = True) -> tuple[int, bytes]:
        full = self._argv(argv)
        proc = await asyncio.create_subprocess_exec(
            *full, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin)
        rc = proc.returncode or 0
        if check and rc != 0:
            raise IptablesError(f"{shlex.join(full[:6])}...: exit {rc}: "
                                f"{err.decode(errors='replace').strip()[:2000]}")
        return rc, out

    # ---- the verbs ------------------------------------------------------------------

    async def restore(self, text: str) -> None:
        """One ``iptables-restore --noflush`` of tables in restore format: atomic per table,
        and chains the text does not name stay as they are."""
        await self.run([self.restore_binary, *WAIT, "--noflush"], stdin=text.encode())

    async def save(self, table: str) -> str:
        _, out = await self.run([self.save_binary, "-t", table])
        return out.decode()

    async def chains(self, table: str) -> set[str]:
        return chains_in(await self.save(table))

    async def check_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        rc, _ = await self.run([self.binary, *WAIT, "-t", table, "-C", chain, *args],
                               check=False)
        return rc == 0

    async def ensure_chain(self, table: str, chain: str) -> None:
        rc, _ = await self.run([self.binary, *WAIT, "-t", table, "-N", chain], check=False)
        if rc not in (0, 1):  # 1: exists
            raise IptablesError(f"cannot create chain {table}/{chain}: exit {rc}")

    async def ensure_rule_first(self, table: str, chain: str, args: Sequence[str]) -> bool:
        """Insert the rule at the top of ``chain`` unless it is there; True if inserted."""
        if await self.check_rule(table, chain, args):
            return False
        await self.run([self.binary, *WAIT, "-t", table, "-I", chain, "1", *args])
        return True

    async def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> int:
        """Delete every copy of the rule; how many were deleted."""
        n = 0
        while n < 100:
            rc, _ = await self.run([self.binary, *WAIT, "-t", table, "-D", chain, *args],
                                   check=False)
            if rc != 0:
                break
            n += 1
        return n

    async def conntrack_delete(self, args: Sequence[str]) -> None:
        """``conntrack -D`` (exit 1 when nothing matched is fine)."""
        if self.has_conntrack:
            await self.run(["conntrack", "-D", *args], check=False)


def chains_in(saved: str) -> set[str]:
    """The chain names in one table of ``iptables-save`` output (GetChainsFromTable)."""
    return {line[1:].split(" ", 1)[0] for line in saved.splitlines() if line.startswith(":")}


async def ensure_guards(ipt: Iptables, service_cidr: str) -> int:
    """Install the service-range REJECT guards unless present; how many were (re)inserted."""
    guards = rules.guard_rules(service_cidr)
    present = await asyncio.gather(*(ipt.check_rule("filter", c, a) for c, a in guards))
    n = 0
    for (chain, args), ok in zip(guards, present, strict=True):
        if not ok:
            n += await ipt.ensure_rule_first("filter", chain, args)
    return n


ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/all/route_localnet"


async def enable_route_localnet(ipt: Iptables) -> None:
    """net.ipv4.conf.all.route_localnet=1 (as kube-proxy sets it for localhost node
    ports): a packet to a loopback load-balancer address, DNATed to a pod, leaves through
    the pods' bridge with its 127/8 source until it is masqueraded; without it the kernel
    drops it as martian. Raises OSError when it cannot be set (a read-only /proc/sys)."""
    rc, out = await ipt.run(["cat", ROUTE_LOCALNET], check=False)
    if rc == 0 and out.strip() == b"1":
        return
    try:
        await ipt.run(["sh", "-c", f"echo 1 > {ROUTE_LOCALNET}"])
    except IptablesError as exc:
        raise OSError(str(exc)) from exc


async def ensure_localnet_guard(ipt: Iptables) -> int:
    """kube-proxy's KUBE-FIREWALL rule, in filter INPUT and OUTPUT: with route_localnet
    on, a new packet to 127/8 from another address is still dropped unless a rule DNATed
    it. How many were (re)inserted."""
    n = 0
    for chain in ("INPUT", "OUTPUT"):
        n += await ipt.ensure_rule_first("filter", chain, rules.LOCALNET_GUARD)
    return n


async def ensure_jumps(ipt: Iptables, create_chains: bool = True) -> None:
    """The jumps from the built-in chains to our top-level chains (kube-proxy's
    iptablesJumpChains, prepended), creating those chains first unless a restore just did.
    The checks run concurrently; the inserts (writes) one at a time."""
    if create_chains:
        for table, chains in (("filter", rules.FILTER_TOP_CHAINS),
                              ("nat", rules.NAT_TOP_CHAINS)):
            for chain in chains:
                await ipt.ensure_chain(table, chain)
    present = await asyncio.gather(*(ipt.check_rule(j.table, j.chain, j.args())
                                     for j in rules.JUMP_RULES))
    for j, ok in zip(rules.JUMP_RULES, present, strict=True):
        if not ok:
            await ipt.ensure_rule_first(j.table, j.chain, j.args())


async def cleanup(ipt: Iptables, service_cidr: str | None = None, *,
                  guards: bool = True) -> int:
    """kube-proxy --cleanup: remove the jump rules, every chain the proxy made and (unless
    not ``guards``: the nftables mode removing what the iptables mode left) the guards
    (those of ``service_cidr``, or any carrying the guard comment, and the localnet guard).
    Returns how many chains were deleted."""
    for j in rules.JUMP_RULES:
        await ipt.delete_rule(j.table, j.chain, j.args())
    deleted = 0
    for table, top in (("nat", rules.NAT_TOP_CHAINS), ("filter", rules.FILTER_TOP_CHAINS)):
        saved = await ipt.save(table)
        # guards (any range): the saved lines carry the comment
        if table == "filter" and guards:
            for line in saved.splitlines():
                if rules.GUARD_COMMENT in line and line.startswith("-A "):
                    chain, *rest = shlex.split(line[3:])
                    await ipt.delete_rule("filter", chain, rest)
        ours = sorted(c for c in chains_in(saved) if c in top or rules.is_service_chain(c))
        if not ours:
            continue
        text = "\n".join([f"*{table}", *(f":{c} - [0:0]" for c in ours),
                          *(f"-X {c}" for c in ours), "COMMIT", ""])
        try:
            await ipt.restore(text)
            deleted += len(ours)
        except IptablesError as exc:  # something else still jumps to one of them
            log.error("cleanup of the %s table failed: %s", table, exc)
    if service_cidr and guards:
        for chain, args in rules.guard_rules(service_cidr):
            await ipt.delete_rule("filter", chain, args)
    if guards:
        for chain in ("INPUT", "OUTPUT"):
            await ipt.delete_rule("filter", chain, rules.LOCALNET_GUARD)
    return deleted
