"""``/healthz`` and Prometheus ``/metrics`` of the controller-manager (``--metrics-port``).

A few lines of asyncio instead of a web framework: two read-only pages, served from
the event loop that runs the controllers, so that the numbers are read without locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from client.controller import Controller
from client.httpserve import PROMETHEUS, Reply, serve_http, text

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
    def metrics() -> Reply:
        return 200, PROMETHEUS, render(controllers(), leading()).encode()

    ok = text(200, "ok")
    return await serve_http(host, port, {"/metrics": metrics, "/healthz": lambda: ok,
                                         "/livez": lambda: ok, "/readyz": lambda: ok})
