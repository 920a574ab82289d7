"""The commands the agent runs (``iptables``, ``iptables-save``/``-restore``, ``ip``), as
asyncio subprocesses, optionally inside a named network namespace (``ip netns exec``: the
tests give each simulated node one while the agent itself talks to the API server from the
host's)."""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Sequence
from typing import Any

WAIT = ["-w", "5"]  # wait for the xtables lock instead of failing


class CommandError(RuntimeError):
    pass


class Runner:
    def __init__(self, netns: str | None = None, timeout: float = 30.0) -> None:
        self.netns = netns
        self.timeout = timeout

    def argv(self, argv: Sequence[str]) -> list[str]:
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + list(argv)

    async def run(self, argv: Sequence[str], stdin: str | None = None,
                  check: bool = True) -> tuple[int, str]:
        full = self.argv(argv)
        proc = await asyncio.create_subprocess_exec(
            *full, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise CommandError(f"{shlex.join(full)}: timed out after {self.timeout}s") from None
        rc = proc.returncode or 0
        if check and rc != 0:
            raise CommandError(f"{shlex.join(full)}: exit {rc}: "
                               f"{err.decode(errors='replace').strip()[:2000]}")
        return rc, out.decode(errors="replace")

    # ---- iptables ---------------------------------------------------------------------

    async def save(self, table: str, counters: bool = False) -> str:
        _, out = await self.run(["iptables-save", "-t", table, *(["-c"] if counters else [])])
        return out

    async def restore(self, text: str) -> None:
        await self.run(["iptables-restore", *WAIT, "--noflush"], stdin=text)

    async def iptables(self, *args: str, check: bool = True) -> int:
        rc, _ = await self.run(["iptables", *WAIT, *args], check=check)
        return rc

    # ---- ip ---------------------------------------------------------------------------

    async def ip(self, *args: str, check: bool = True) -> int:
        rc, _ = await self.run(["ip", *args], check=check)
        return rc

    async def ip_json(self, *args: str) -> list[dict[str, Any]]:
        _, out = await self.run(["ip", "-j", *args])
        data = json.loads(out) if out.strip() else []
        return data if isinstance(data, list) else []
