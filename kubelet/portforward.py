"""``GET /portForward/{namespace}/{pod}``: kubectl port-forward's streams, served over
WebSocket carrying SPDY/3.1 (subprotocol ``SPDY/3.1+portforward.k8s.io``), or over the
WebSocket channel protocol ``v4.channel.k8s.io`` that other clients speak
(kubelet/portforward_ws.py).

A port of the kubelet's cri/streaming/portforward/httpstream.go: every stream the client
opens must carry a valid ``port`` and ``streamType`` (else it is reset); streams pair
up by ``requestID``; a pair incomplete after the stream creation timeout gets "timed
out waiting for streams" on its error stream; a complete pair is forwarded, and a
failure is written to its error stream as "error forwarding port P to pod SANDBOX,
uid : ..." (the CRI kubelet names the sandbox and leaves the uid empty).

Forwarding connects to the pod's IP and the port. A pod's containers share the pause
(sandbox) container's network namespace, and that namespace's address on the pods'
bridge is the pod IP, which the kubelet reaches as its probes do: connecting to the pod
IP reaches exactly what ``localhost:port`` inside the namespace would, for services
bound to 0.0.0.0 or the pod IP (a process bound to 127.0.0.1 only is not reachable this
way; the real kubelet enters the namespace instead). A hostNetwork pod shares the
node's namespace: it is reached on 127.0.0.1. Bytes are relayed both ways; when one
direction ends the other gets one more second to finish, as containerd's portForward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from api import portforward as pf
from api import spdy
from client.spdystream import Connection, Stream
from kubelet import portforward_ws as pfws
from kubelet.kubelet import Kubelet

log = logging.getLogger(__name__)

STREAM_CREATION_TIMEOUT = 30.0  # the CRI streaming server's DefaultConfig.StreamCreationTimeout
CONNECT_TIMEOUT = 10.0


@dataclass
class _Pair:
    request_id: str
    error: Stream | None = None
    data: Stream | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)


async def sandbox_address(kl: Kubelet, namespace: str, pod: str) -> tuple[str, str] | str:
    """(sandbox id, IP to connect to) of the pod's running sandbox, or an error message."""
    boxes = [c for c in await kl.runtime.list_containers(kl.node_name)
             if c.is_sandbox and c.pod_namespace == namespace and c.pod_name == pod
             and c.running]
    if not boxes:
        return f'pod "{pod}" not found on node {kl.node_name}'
    box = max(boxes, key=lambda c: c.created_at)
    return box.id, box.ip or "127.0.0.1"


def _dial_error(ip: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        reason = "i/o timeout"
    elif isinstance(exc, OSError) and exc.errno:
        reason = os.strerror(exc.errno).lower()
    else:
        reason = str(exc)
    return f"dial tcp {ip}:{port}: connect: {reason}"


class Forwarder:
    """The streams of one port-forward connection (httpStreamHandler)."""

    def __init__(self, sandbox: str, ip: str, creation_timeout: float) -> None:
        self.sandbox = sandbox
        self.ip = ip
        self.creation_timeout = creation_timeout
        self.pairs: dict[str, _Pair] = {}
        self.conn: Connection | None = None
        self.monitors: set[asyncio.Task[None]] = set()

    async def on_stream(self, s: Stream) -> None:
        """httpStreamReceived, then run()'s pairing."""
        assert self.conn is not None
        try:
            pf.parse_port(s.header(pf.PORT))
            kind = s.header(pf.STREAM_TYPE)
            if not kind:
                raise ValueError(f'"{pf.STREAM_TYPE}" header is required')
            if kind not in (pf.STREAM_TYPE_ERROR, pf.STREAM_TYPE_DATA):
                raise ValueError(f'invalid stream type "{kind}"')
        except ValueError as e:
            log.warning("port-forward stream rejected: %s", e)
            await s.reset()
            return
        await self.conn.reply(s)
        rid = s.header(pf.REQUEST_ID)
        if not rid:  # an old client: the pseudo request id from the stream id
            rid = str(s.id if kind == pf.STREAM_TYPE_ERROR else s.id - 2)
        pair = self.pairs.get(rid)
        if pair is None:
            pair = self.pairs[rid] = _Pair(rid)
            task = asyncio.create_task(self._monitor(pair))
            self.monitors.add(task)
            task.add_done_callback(self.monitors.discard)
        if (kind == pf.STREAM_TYPE_ERROR and pair.error is not None) or \
                (kind == pf.STREAM_TYPE_DATA and pair.data is not None):
            msg = f"error processing stream for request {rid}: {kind} stream already assigned"
            if pair.error is not None:
                await pair.error.write(msg.encode())
            return
        if kind == pf.STREAM_TYPE_ERROR:
            pair.error = s
        else:
            pair.data = s
        if pair.error is not None and pair.data is not None:
            pair.complete.set()
            await self._forward(pair)

    async def _monitor(self, pair: _Pair) -> None:
        try:
            await asyncio.wait_for(pair.complete.wait(), self.creation_timeout)
        except TimeoutError:
            if pair.error is not None:
                await pair.error.write(
                    f"(conn={id(self.conn):#x}, request={pair.request_id}) timed out "
                    "waiting for streams".encode())
                await pair.error.close()
        finally:
            self.pairs.pop(pair.request_id, None)

    async def _forward(self, pair: _Pair) -> None:
        assert pair.data is not None and pair.error is not None
        port = int(pair.data.header(pf.PORT))
        try:
            await self._relay(pair.data, port)
        except (OSError, TimeoutError) as e:
            msg = (f"error forwarding port {port} to pod {self.sandbox}, uid : "
                   f"{_dial_error(self.ip, port, e)}")
            log.info("%s", msg)
            await pair.error.write(msg.encode())
        finally:
            await pair.data.close()
            await pair.error.close()

    async def _relay(self, data: Stream, port: int) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.ip, port),
                                                CONNECT_TIMEOUT)

        async def upstream() -> None:  # client -> pod
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()

        async def downstream() -> None:  # pod -> client
            while chunk := await reader.read(65536):
                await data.write(chunk)

        tasks = {asyncio.create_task(upstream()), asyncio.create_task(downstream())}
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def serve_portforward(kl: Kubelet, request: web.Request,
                            creation_timeout: float = STREAM_CREATION_TIMEOUT
                            ) -> web.StreamResponse:
    ns, pod = request.match_info["namespace"], request.match_info["pod"]
    found = await sandbox_address(kl, ns, pod)
    if isinstance(found, str):
        return web.Response(status=404, text=found)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    channel_ports: list[int] = []
    if pf.TUNNELING_PROTOCOL not in offered and pf.CHANNEL_PROTOCOL_V4 in offered:
        try:
            channel_ports = pf.parse_ports(request.query.getall("port", []))
        except ValueError as e:
            return web.Response(status=400, text=str(e))
    ws = web.WebSocketResponse(protocols=(pf.TUNNELING_PROTOCOL, pf.CHANNEL_PROTOCOL_V4),
                               autoping=True, max_msg_size=0)
    await ws.prepare(request)
    if ws.ws_protocol == pf.CHANNEL_PROTOCOL_V4:
        try:
            await pfws.serve_channels(ws, found[0], found[1], channel_ports, _dial_error)
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        return ws
    if ws.ws_protocol != pf.TUNNELING_PROTOCOL:
        await ws.close(message=f"subprotocol {pf.TUNNELING_PROTOCOL} required".encode())
        return ws
    fwd = Forwarder(found[0], found[1], creation_timeout)
    conn = fwd.conn = Connection(ws.send_bytes, server=True, on_stream=fwd.on_stream)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await conn.feed(msg.data)
            elif msg.type == WSMsgType.TEXT:
                break  # TunnelingConnection: "invalid message type received"
    except (spdy.ProtocolError, ConnectionError) as e:
        log.info("port-forward to %s/%s ended: %s", ns, pod, e)
    finally:
        conn.connection_lost()
        for t in list(fwd.monitors):
            t.cancel()
        await conn.wait_handlers()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws
