"""Liveness and readiness probes: one small task per (container, probe kind).

A probe worker only records its verdict and wakes the pod's worker when the verdict
changes; the pod worker decides what to do (restart, flip Ready), so all changes to
a pod's containers happen in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from api.models import Container, Probe
from kubelet.runtime.base import ContainerRuntime

log = logging.getLogger(__name__)


@dataclass
class ProbeOutcome:
    ok: bool
    message: str = ""


def _port(container: Container, port: int | str) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.ports or []:
        if p.name == port:
            return p.container_port
    raise ValueError(f"port {port!r} is not a named port of container {container.name!r}")


async def http_get(host: str, port: int, path: str, headers: list[tuple[str, str]],
                   timeout: float) -> ProbeOutcome:
    """A minimal HTTP/1.0 GET: 200-399 is success, as in Kubernetes."""
    async def go() -> ProbeOutcome:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            hdrs = "".join(f"{k}: {v}\r\n" for k, v in headers)
            if not any(k.lower() == "host" for k, _ in headers):
                hdrs += f"Host: {host}:{port}\r\n"
            writer.write(f"GET {path or '/'} HTTP/1.0\r\n{hdrs}User-Agent: kube-probe/minik8s\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = (await reader.readline()).decode(errors="replace").strip()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        parts = line.split(" ", 2)
        code = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        if 200 <= code < 400:
            return ProbeOutcome(True)
        return ProbeOutcome(False, f"HTTP probe failed with statuscode: {code}")
    try:
        return await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        return ProbeOutcome(False, f'Get "http://{host}:{port}{path}": context deadline exceeded')
    except OSError as exc:
        return ProbeOutcome(False, f'Get "http://{host}:{port}{path}": {exc.strerror or exc}')


async def tcp_socket(host: str, port: int, timeout: float) -> ProbeOutcome:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as exc:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: {exc.strerror or exc}")
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return ProbeOutcome(True)


async def run_probe(probe: Probe, container: Container, container_id: str, pod_ip: str,
                    runtime: ContainerRuntime) -> ProbeOutcome:
    timeout = float(probe.timeout_seconds or 1)
    try:
        if probe.exec is not None:
            try:
                r = await runtime.exec(container_id, list(probe.exec.command or []), timeout)
            except TimeoutError:
                return ProbeOutcome(False, f"command timed out after {timeout:g}s")
            if r.exit_code == 0:
                return ProbeOutcome(True)
            return ProbeOutcome(False, r.output.strip() or
                                f"command {probe.exec.command} exited with {r.exit_code}")
        if runtime.name == "fake":
            # Hollow nodes have no network: their probes pass, like their containers run.
            return ProbeOutcome(True)
        if probe.http_get is not None:
            g = probe.http_get
            headers = [(h.name, h.value) for h in g.http_headers or []]
            return await http_get(g.host or pod_ip, _port(container, g.port), g.path or "/",
                                  headers, timeout)
        if probe.tcp_socket is not None:
            t = probe.tcp_socket
            return await tcp_socket(t.host or pod_ip, _port(container, t.port), timeout)
    except ValueError as exc:
        return ProbeOutcome(False, str(exc))
    except Exception as exc:  # a runtime error is a failed probe, never a dead prober
        return ProbeOutcome(False, str(exc))
    return ProbeOutcome(True)


class ProbeWorker:
    """Runs one probe against one container until stopped.

    ``result`` is None until the verdict is known (readiness starts not ready;
    liveness starts alive); ``on_change`` is called whenever it flips.
    """

    def __init__(self, kind: str, probe: Probe, container: Container, container_id: str,
                 pod_ip: str, runtime: ContainerRuntime, on_change: Callable[[], None],
                 on_failure: Callable[[str, str], None]) -> None:
        self.kind = kind  # "Startup", "Liveness" or "Readiness"
        self.probe = probe
        self.container = container
        self.container_id = container_id
        self.pod_ip = pod_ip
        self.runtime = runtime
        self.on_change = on_change
        self.on_failure = on_failure
        self.result: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"probe-{self.kind}-{self.container.name}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        p = self.probe
        period = max(1, p.period_seconds or 10)
        failure_threshold = max(1, p.failure_threshold or 3)
        success_threshold = max(1, p.success_threshold or 1)
        failures = successes = 0
        await asyncio.sleep(max(0, p.initial_delay_seconds or 0))
        while True:
            out = await run_probe(p, self.container, self.container_id, self.pod_ip, self.runtime)
            if out.ok:
                successes += 1
                failures = 0
                if successes >= success_threshold and self.result is not True:
                    self.result = True
                    self.on_change()
                    if self.kind == "Startup":
                        return  # a startup probe is done once it has succeeded
            else:
                failures += 1
                successes = 0
                self.on_failure(self.kind, out.message)
                if failures >= failure_threshold and self.result is not False:
                    self.result = False
                    self.on_change()
            await asyncio.sleep(period)
