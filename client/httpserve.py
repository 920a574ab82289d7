"""The small HTTP responder every service uses for its health and metrics endpoints
(``/healthz``, ``/livez``, ``/readyz``, ``/metrics``, CoreDNS's ``/health`` and ``/ready``).

Written once: read the request line, skip the headers (5 s at most), answer from a
table of routes, close. No keep-alive and no request bodies: probes and Prometheus
scrapes need neither, and a full web framework would cost each service more memory
than everything it serves here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping

# (status code, content type, body)
Reply = tuple[int, str, bytes]
Route = Callable[[], Reply | Awaitable[Reply]]

PROMETHEUS = "text/plain; version=0.0.4"
NOT_FOUND: Reply = (404, "text/plain; charset=utf-8", b"404 page not found\n")
_REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}


def text(status: int, body: str) -> Reply:
    return status, "text/plain; charset=utf-8", body.encode()


async def serve_http(host: str, port: int, routes: Mapping[str, Route]) -> asyncio.Server:
    """Serve ``routes`` (path -> a function, plain or async, returning a Reply) on
    ``host:port`` (0: any free port, see the server's sockets)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = line.decode("latin-1").split()
            route = routes.get(parts[1].split("?")[0]) if len(parts) > 1 else None
            reply: Reply = NOT_FOUND
            if route is not None:
                got = route()
                reply = await got if inspect.isawaitable(got) else got
            status, ctype, body = reply
            writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                         f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
