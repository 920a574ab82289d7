"""The health-check node ports of ``externalTrafficPolicy: Local`` LoadBalancer Services
(kube-proxy's ServiceHealthServer, pkg/proxy/healthcheck/service_health.go).

Each such Service's ``spec.healthCheckNodePort`` gets a listener; any path answers with
kube-proxy's JSON body (the Service, its local endpoints, whether the proxy is healthy),
200 when it has local endpoints and the proxy is healthy, else 503, with the
``X-Load-Balancing-Endpoint-Weight`` header a load balancer may weigh nodes by.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def body(namespace: str, name: str, count: int, healthy: bool) -> bytes:
    """hcHandler.ServeHTTP's body (dedented, trimmed: tab-indented, no final newline)."""
    return (f'{{\n\t"service": {{\n\t\t"namespace": "{namespace}",\n\t\t"name": "{name}"\n'
            f'\t}},\n\t"localEndpoints": {count},\n'
            f'\t"serviceProxyHealthy": {"true" if healthy else "false"}\n}}').encode()


class ServiceHealthServer:
    """One listener per health-check node port, on ``host`` (all addresses by default)."""

    def __init__(self, healthy: Callable[[], bool], host: str = "0.0.0.0") -> None:
        self.healthy = healthy
        self.host = host
        self.ports: dict[str, int] = {}  # ns/name -> port
        self.endpoints: dict[str, int] = {}  # ns/name -> local endpoints
        self._servers: dict[str, asyncio.Server] = {}
        self.failed: dict[str, str] = {}  # ns/name -> why its listener did not start

    async def sync_services(self, ports: Mapping[str, int]) -> None:
        """Listen on exactly these ports (SyncServices): stop the others, start the new."""
        for key in list(self._servers):
            if ports.get(key) != self.ports.get(key):
                self._servers.pop(key).close()
                self.ports.pop(key, None)
        for key in list(self.failed):
            if key not in ports:
                del self.failed[key]
        for key, port in ports.items():
            if key in self._servers:
                continue
            try:
                self._servers[key] = await asyncio.start_server(
                    functools.partial(self._handle, key), self.host, port)
                self.ports[key] = port
                self.failed.pop(key, None)
            except OSError as exc:
                if self.failed.get(key) != str(exc):
                    log.error("health check node port %d of %s: %s", port, key, exc)
                self.failed[key] = str(exc)

    def sync_endpoints(self, counts: Mapping[str, int]) -> None:
        self.endpoints = dict(counts)

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        self.ports.clear()

    async def _handle(self, key: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            count = self.endpoints.get(key, 0)
            healthy = self.healthy()
            ns, _, name = key.partition("/")
            data = body(ns, name, count, healthy)
            status = "200 OK" if count and healthy else "503 Service Unavailable"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                         f"X-Content-Type-Options: nosniff\r\n"
                         f"X-Load-Balancing-Endpoint-Weight: {count}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
                         .encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
