"""Run a command in a container through pods/{name}/exec (or attach to its process through
pods/{name}/attach), as kubectl 1.30+ does.

The stream is a WebSocket speaking Kubernetes' channel protocol (api/remotecommand.py).
A refused upgrade carries no readable body here, so the same request is repeated as a
plain GET to read the API server's Status (the server runs the same checks) -- the
counterpart of kubectl's fallback to SPDY.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from api import remotecommand as rc
from client.errors import ApiError, error_from_response, unavailable
from client.tasks import cancel_and_wait

Sink = Callable[[bytes], None]


def _params(command: list[str], container: str | None, stdin: bool, tty: bool
            ) -> list[tuple[str, str]]:
    q = [("command", c) for c in command]
    if container:
        q.append(("container", container))
    q += [("stdin", str(stdin).lower()), ("stdout", "true"),
          ("stderr", str(not tty).lower()), ("tty", str(tty).lower())]
    return q


async def _refusal(session: aiohttp.ClientSession, url: str, params: list[tuple[str, str]],
                   headers: dict[str, str], code: int) -> ApiError:
    try:
        async with session.get(url, params=params, headers=headers) as r:
            return error_from_response(r.status, await r.read())
    except aiohttp.ClientError:
        return error_from_response(code, None)


async def _send_stdin(ws: aiohttp.ClientWebSocketResponse, stdin: AsyncIterator[bytes]) -> None:
    async for chunk in stdin:
        if chunk:
            await ws.send_bytes(bytes([rc.STDIN]) + chunk)
    if ws.protocol == rc.PROTOCOL_V5:
        await ws.send_bytes(bytes([rc.CLOSE, rc.STDIN]))


async def _send_sizes(ws: aiohttp.ClientWebSocketResponse,
                      sizes: AsyncIterator[tuple[int, int]]) -> None:
    async for width, height in sizes:
        await ws.send_bytes(bytes([rc.RESIZE]) +
                            json.dumps({"Width": width, "Height": height}).encode())


async def exec_pod(server: str, namespace: str, pod: str, command: list[str], *,
                   stdout: Sink, stderr: Sink, container: str | None = None,
                   stdin: AsyncIterator[bytes] | None = None, tty: bool = False,
                   sizes: AsyncIterator[tuple[int, int]] | None = None,
                   token: str | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> int:
    """Run ``command`` and return its exit code. Output goes to the sinks as it arrives;
    ``stdin`` (when given) is sent until it ends, then closed (v5). Raises ApiError when
    the server refuses or the command cannot run at all."""
    url = f"{server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/exec"
    params = _params(command, container, stdin is not None, tty)
    return await _stream(server, url, params, stdout=stdout, stderr=stderr, stdin=stdin,
                         sizes=sizes, token=token, ssl_context=ssl_context)


async def attach_pod(server: str, namespace: str, pod: str, *, stdout: Sink, stderr: Sink,
                     container: str | None = None, stdin: AsyncIterator[bytes] | None = None,
                     tty: bool = False, sizes: AsyncIterator[tuple[int, int]] | None = None,
                     token: str | None = None,
                     ssl_context: ssl.SSLContext | None = None) -> int:
    """Attach to the running process of a container (pods/{name}/attach) until it ends or
    the stream closes; its exit code, as ``exec_pod``."""
    url = f"{server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/attach"
    params = _params([], container, stdin is not None, tty)
    return await _stream(server, url, params, stdout=stdout, stderr=stderr, stdin=stdin,
                         sizes=sizes, token=token, ssl_context=ssl_context)


async def _stream(server: str, url: str, params: list[tuple[str, str]], *, stdout: Sink,
                  stderr: Sink, stdin: AsyncIterator[bytes] | None,
                  sizes: AsyncIterator[tuple[int, int]] | None, token: str | None,
                  ssl_context: ssl.SSLContext | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    error = b""
    connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=10)) as s:
        try:
            ws = await s.ws_connect(url, params=params, headers=headers,
                                    protocols=rc.PROTOCOLS, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            raise await _refusal(s, url, params, headers, e.status) from None
        except (aiohttp.ClientError, OSError) as e:
            raise unavailable(server, e) from e
        async with ws:
            senders = [asyncio.create_task(_send_stdin(ws, stdin))] if stdin is not None else []
            if sizes is not None:
                senders.append(asyncio.create_task(_send_sizes(ws, sizes)))
            try:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                        continue
                    channel, data = msg.data[0], msg.data[1:]
                    if channel == rc.STDOUT:
                        stdout(data)
                    elif channel == rc.STDERR:
                        stderr(data)
                    elif channel == rc.ERROR:
                        error += data
            finally:
                await cancel_and_wait(senders)
    if not error:
        raise error_from_response(503, "the exec stream ended without the command's status "
                                       f"(close code {ws.close_code})")
    status: dict[str, Any] = json.loads(error)
    code = rc.status_exit_code(status)
    if code is None:
        raise error_from_response(int(status.get("code") or 500), {**status, "kind": "Status"})
    return code
