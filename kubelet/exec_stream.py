"""``GET /exec/{namespace}/{pod}/{container}``: kubectl exec's stream, served over WebSocket
(and ``/attach/...``, kubectl attach's, on the same protocol).

The protocol is Kubernetes' v4/v5 channel protocol (api/remotecommand.py): every binary
message starts with its channel byte. The command is started after the upgrade, as the
kubelet does, so a runtime failure reaches the client as an InternalError Status on the
error channel rather than as a failed handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from api import remotecommand as rc
from kubelet.kubelet import Kubelet
from kubelet.runtime.base import ContainerInfo, ExecError, ExecSession, RuntimeUnavailable

log = logging.getLogger(__name__)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() in ("true", "1")


async def _send_error(ws: web.WebSocketResponse, status: dict[str, object]) -> None:
    with contextlib.suppress(ConnectionError):
        await ws.send_bytes(bytes([rc.ERROR]) + json.dumps(status).encode())


async def _pump_input(ws: web.WebSocketResponse, session: ExecSession, v5: bool) -> None:
    """Client -> process, until the client goes away. Stdin the process no longer takes
    (it has exited or closed it) is dropped: its output and exit code still matter."""
    stdin_ok = True
    async for msg in ws:
        # Text frames count as their UTF-8 bytes, as the API server's websocket reader takes
        # any message into a byte slice: the official Python client writes str stdin as text.
        if msg.type == WSMsgType.TEXT and msg.data:
            data: bytes = msg.data.encode()
        elif msg.type == WSMsgType.BINARY and msg.data:
            data = msg.data
        else:
            continue
        channel = data[0]
        if channel == rc.STDIN:
            if len(data) > 1 and stdin_ok:
                try:
                    await session.write_stdin(data[1:])
                except OSError:
                    stdin_ok = False
        elif channel == rc.RESIZE:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                size = json.loads(data[1:])
                await session.resize(int(size["Width"]), int(size["Height"]))
        elif v5 and channel == rc.CLOSE and len(data) == 2 and data[1] == rc.STDIN \
                and stdin_ok:
            await session.close_stdin()


async def _pump_output(ws: web.WebSocketResponse, session: ExecSession) -> None:
    async for stream, data in session.output():
        await ws.send_bytes(bytes([stream]) + data)


Finder = Callable[[Kubelet, str, str, str, bool], Awaitable[ContainerInfo | str]]
Opener = Callable[[], Awaitable[ExecSession]]


async def serve_exec(kl: Kubelet, request: web.Request, find_container: Finder
                     ) -> web.StreamResponse:
    ns, pod = request.match_info["namespace"], request.match_info["pod"]
    command = request.query.getall("command", [])
    stdin, stdout = _flag(request, "stdin"), _flag(request, "stdout")
    tty = _flag(request, "tty")
    stderr = _flag(request, "stderr") and not tty  # a terminal has one output stream
    if not command:
        return web.Response(status=400, text="you must specify at least 1 command")
    if not (stdin or stdout or stderr):
        return web.Response(status=400,
                            text="you must specify at least one of stdin, stdout, stderr")
    found = await find_container(kl, ns, pod, request.match_info.get("container", ""), False)
    if isinstance(found, str):
        return web.Response(status=404, text=found)

    def opener() -> Awaitable[ExecSession]:
        assert not isinstance(found, str)
        return kl.runtime.exec_stream(found.id, command, stdin, tty)
    return await _serve(request, found, opener, stdout, stderr, "error executing command in container",
                        lambda code: rc.exit_status(command, code))


async def serve_attach(kl: Kubelet, request: web.Request, find_container: Finder
                       ) -> web.StreamResponse:
    """``GET /attach/{namespace}/{pod}/{container}``: the container's own streams over the
    same channel protocol (remotecommand's ServeAttach): the stream ends when the
    container's output does, with a Success Status (an attach reports no exit code)."""
    ns, pod = request.match_info["namespace"], request.match_info["pod"]
    stdin, stdout = _flag(request, "stdin"), _flag(request, "stdout")
    tty = _flag(request, "tty")
    stderr = _flag(request, "stderr") and not tty
    if not (stdin or stdout or stderr):
        return web.Response(status=400,
                            text="you must specify at least one of stdin, stdout, stderr")
    found = await find_container(kl, ns, pod, request.match_info.get("container", ""), False)
    if isinstance(found, str):
        return web.Response(status=404, text=found)

    def opener() -> Awaitable[ExecSession]:
        assert not isinstance(found, str)
        return kl.runtime.attach_stream(found.id, stdin, tty)
    return await _serve(request, found, opener, stdout, stderr, "error attaching to container",
                        lambda _: {"metadata": {}, "status": "Success"})


async def _serve(request: web.Request, found: ContainerInfo, opener: Opener, stdout: bool,
                 stderr: bool, failure: str, final: Callable[[int], dict[str, object]]
                 ) -> web.StreamResponse:
    """The channel protocol around a session: its output out, stdin and resizes in, and
    ``final(exit code)`` on the error channel once the output has ended."""
    ws = web.WebSocketResponse(protocols=rc.PROTOCOLS, autoping=True)
    await ws.prepare(request)
    if ws.ws_protocol not in rc.PROTOCOLS:
        await _send_error(ws, rc.internal_error_status(
            f"no supported stream protocol offered; supported: {', '.join(rc.PROTOCOLS)}"))
        await ws.close()
        return ws
    try:
        session = await opener()
    except (KeyError, ExecError, RuntimeUnavailable) as e:
        msg = f"container {found.id} not found" if isinstance(e, KeyError) else str(e)
        await _send_error(ws, rc.internal_error_status(f"{failure}: {msg}"))
        await ws.close()
        return ws
    # Tells the client the stream is up: an empty message on the lowest output channel.
    first = rc.STDOUT if stdout else rc.STDERR if stderr else rc.ERROR
    inbound = asyncio.create_task(_pump_input(ws, session, ws.ws_protocol == rc.PROTOCOL_V5))
    try:
        await ws.send_bytes(bytes([first]))
        outbound = asyncio.create_task(_pump_output(ws, session))
        done, _ = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
        if outbound in done and outbound.exception() is None:
            await _send_error(ws, final(await session.wait()))
        else:
            outbound.cancel()
    except (ConnectionError, ExecError, RuntimeUnavailable) as e:
        log.debug("stream of %s/%s ended: %s", found.pod_namespace, found.pod_name, e)
    finally:
        inbound.cancel()
        await session.close()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws
