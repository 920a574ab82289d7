"""``/healthz`` and Prometheus ``/metrics`` of the controller-manager (``--metrics-port``).

A few lines of asyncio instead of a web framework: two read-only pages, served from
the event loop that runs the controllers, so that the numbers are read without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from client.controller import Controller

_FAMILIES = (
    # (metric, help, type, queue-metrics key)
    ("workqueue_depth", "Current depth of the workqueue.", "gauge", "depth"),
    ("workqueue_adds_total", "Keys added to the workqueue.", "counter", "adds"),
    ("workqueue_retries_total", "Rate-limited retries.", "counter", "retries"),
    ("workqueue_work_duration_seconds_total", "Time spent reconciling.", "counter",
     "work_duration_seconds_total"),
    ("workqueue_queue_duration_seconds_total", "Time keys waited in the queue.", "counter",
     "queue_latency_seconds_total"),
)


def render(controllers: list[Controller], leading: bool) -> str:
    lines: list[str] = []
    for metric, help_, kind, key in _FAMILIES:
        lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} {kind}"]
        for c in controllers:
            value = c.queue.metrics.get(key, 0)
            lines.append(f'{metric}{{name="{c.name}"}} {value}')
    for metric, help_, attr in (
            ("controller_reconcile_total", "Reconciles run.", "reconciles"),
            ("controller_reconcile_errors_total", "Reconciles that raised.", "errors")):
        lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} counter"]
        lines += [f'{metric}{{controller="{c.name}"}} {getattr(c, attr)}' for c in controllers]
    lines += ["# HELP leader_election_master_status 1 while this process leads.",
              "# TYPE leader_election_master_status gauge",
              f'leader_election_master_status{{name="controller-manager"}} {int(leading)}']
    return "\n".join(lines) + "\n"


async def serve(host: str, port: int, controllers: Callable[[], list[Controller]],
                leading: Callable[[], bool]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else ""
            if path == "/metrics":
                status, ctype = "200 OK", "text/plain; version=0.0.4"
                body = render(controllers(), leading()).encode()
            elif path in ("/healthz", "/livez", "/readyz"):
                status, ctype, body = "200 OK", "text/plain", b"ok"
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
