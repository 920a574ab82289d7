"""Interactive exec and attach on Docker: the daemon's hijacked connection, driven from asyncio.

``exec_start(socket=True)`` hands over the raw connection after the daemon's 101
answer. Reading and writing it through the loop (non-blocking socket) keeps a
long-lived exec from holding one of the runtime's worker threads. Without a tty the
daemon multiplexes stdout and stderr into frames of an 8-byte header (stream, 0, 0, 0,
big-endian length) and the payload; with a tty it sends the terminal's bytes as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import docker.errors

from kubelet.runtime.base import ExecError

T = TypeVar("T")
Run = Callable[..., Awaitable[Any]]


def _raw_socket(sock: Any) -> tuple[socket.socket, bytes]:
    """The socket under what the SDK returns, plus bytes its HTTP reader already buffered
    (output that arrived together with the 101 answer)."""
    raw: socket.socket = sock._sock if hasattr(sock, "_sock") else sock
    raw.setblocking(False)
    early = b""
    response = getattr(sock, "_response", None)
    reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if reader is not None:
        with contextlib.suppress(BlockingIOError, OSError, ValueError):
            early = reader.read1(65536) or b""
    return raw, early


class DockerExecSession:
    def __init__(self, api: Any, run: Run, exec_id: str, sock: Any, tty: bool) -> None:
        self._api = api
        self._run = run
        self._id = exec_id
        self._holder = sock  # keeps the SDK's response (and so the connection) alive
        self._sock, self._early = _raw_socket(sock)
        self._tty = tty

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        buf = self._early
        while True:
            if self._tty:
                if buf:
                    yield 1, buf
                buf = b""
            else:
                while len(buf) >= 8:
                    size = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + size:
                        break
                    stream, payload, buf = buf[0], buf[8:8 + size], buf[8 + size:]
                    if payload:
                        yield (2 if stream == 2 else 1), payload
            try:
                chunk = await loop.sock_recv(self._sock, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk

    async def write_stdin(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self._sock, data)

    async def close_stdin(self) -> None:
        # The daemon closes the process's stdin when the client half-closes.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(docker.errors.APIError):
            await self._run(self._api.exec_resize, self._id, height=height, width=width)

    async def wait(self) -> int:
        # The output ends a moment before the daemon records the exit code.
        for _ in range(100):
            info = await self._run(self._api.exec_inspect, self._id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            await asyncio.sleep(0.05)
        raise ExecError(f"exec {self._id[:12]} did not report an exit code")

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(Exception):
            self._holder.close()


async def start(api: Any, run: Run, container_id: str, command: list[str], stdin: bool,
                tty: bool) -> DockerExecSession:
    def create() -> tuple[str, Any]:
        try:
            e = api.exec_create(container_id, command, stdin=stdin, stdout=True, stderr=True,
                                tty=tty)
        except docker.errors.NotFound as exc:
            raise KeyError(container_id) from exc
        except docker.errors.APIError as exc:
            raise ExecError(str(exc.explanation or exc)) from exc
        try:
            return e["Id"], api.exec_start(e["Id"], socket=True, tty=tty)
        except docker.errors.APIError as exc:
            raise ExecError(str(exc.explanation or exc)) from exc

    exec_id, sock = await run(create)
    return DockerExecSession(api, run, exec_id, sock, tty)


class DockerAttachSession(DockerExecSession):
    """``attach`` (kubectl attach): the container's own streams on the same kind of
    hijacked connection; the terminal resized is the container's, and the session has
    no exit code of its own (0 once the output has ended)."""

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(docker.errors.APIError):
            await self._run(self._api.resize, self._id, height=height, width=width)

    async def wait(self) -> int:
        return 0


async def attach(api: Any, run: Run, container_id: str, stdin: bool,
                 tty: bool) -> DockerAttachSession:
    """POST /containers/{id}/attach?stream=1&stdout=1&stderr=1[&stdin=1], no log replay (as
    the CRI's Attach: only what the container writes from now on). A container created
    without OpenStdin ignores what is written to it. The tty mode is the container's."""
    def open_() -> Any:
        try:
            info = api.inspect_container(container_id)
        except docker.errors.NotFound as exc:
            raise KeyError(container_id) from exc
        if not (info.get("State") or {}).get("Running"):
            raise ExecError(f"container {container_id[:12]} is not running")
        params = {"stdout": 1, "stderr": 1, "stream": 1, "stdin": 1 if stdin else 0}
        try:
            return api.attach_socket(container_id, params=params), \
                bool((info.get("Config") or {}).get("Tty"))
        except docker.errors.APIError as exc:
            raise ExecError(str(exc.explanation or exc)) from exc

    sock, container_tty = await run(open_)
    return DockerAttachSession(api, run, container_id, sock, container_tty)
