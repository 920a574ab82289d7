"""The fake runtime's interactive exec: a tiny deterministic shell.

It understands ``echo ...`` (``>&2`` sends the line to stderr), ``cat`` (copies stdin
until it is closed), ``exit N``, ``true`` and ``false``, alone or as ``sh -c 'a; b'``;
anything else fails as a shell would (127, "not found" on stderr). That is enough to
test the exec protocol end to end without Docker.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator


class FakeExecSession:
    def __init__(self, command: list[str], stdin: bool, tty: bool) -> None:
        self.command = command
        self.tty = tty
        self.resizes: list[tuple[int, int]] = []
        self.closed = False
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._in: asyncio.Queue[bytes | None] = asyncio.Queue()
        if not stdin:
            self._in.put_nowait(None)
        self._code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run())

    def _emit(self, stream: int, data: bytes) -> None:
        if self.tty:
            # A terminal merges the streams and turns \n into \r\n (onlcr).
            stream, data = 1, data.replace(b"\n", b"\r\n")
        self._out.put_nowait((stream, data))

    def _statements(self) -> list[list[str]]:
        if len(self.command) >= 3 and self.command[0] in ("sh", "/bin/sh") \
                and self.command[1] == "-c":
            return [shlex.split(part) for part in self.command[2].split(";") if part.strip()]
        return [self.command]

    async def _run(self) -> None:
        code = 0
        try:
            for argv in self._statements():
                if not argv:
                    continue
                name, args = argv[0], argv[1:]
                if name == "echo":
                    to_err = bool(args) and args[-1] in (">&2", "1>&2")
                    if to_err:
                        args = args[:-1]
                    self._emit(2 if to_err else 1, (" ".join(args) + "\n").encode())
                    code = 0
                elif name == "cat":
                    while (chunk := await self._in.get()) is not None:
                        self._emit(1, chunk)
                    code = 0
                elif name == "exit":
                    code = int(args[0]) if args else code
                    break
                elif name in ("true", "false"):
                    code = 0 if name == "true" else 1
                else:
                    self._emit(2, f"sh: {name}: not found\n".encode())
                    code = 127
        finally:
            self._out.put_nowait(None)
            if not self._code.done():
                self._code.set_result(code)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while (item := await self._out.get()) is not None:
            yield item

    async def write_stdin(self, data: bytes) -> None:
        self._in.put_nowait(data)

    async def close_stdin(self) -> None:
        self._in.put_nowait(None)

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        return await self._code

    async def close(self) -> None:
        self.closed = True
        self._task.cancel()
