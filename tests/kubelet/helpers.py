"""Helpers for the kubelet tests: an in-process kubelet on the fake runtime (``Harness``),
and a kubelet process on real Docker (``KubeletProc``, ``kubelet_on_docker``) with the Docker
client that skips the test where no daemon answers, and the cleanup of a node's containers.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from api.models import Pod
from client.rest import AsyncClient, Client
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.support import (
    Process,
    async_wait_for,
    free_port,
    http_ok,
    service,
    unique,
    wait_for,
)
from testing.support import build_images as build_images  # re-exported for the Docker tests

# The label the Docker runtime puts on every container of a node.
LABEL_NODE = "minik8s.node"


class Harness:
    """A kubelet in this process on the fake runtime (images ``img:1`` and ``busybox:latest``
    present, every other one pulled in vain), fast back-off and relist; ``config`` overrides
    other KubeletConfig fields. ``async with`` starts it and stops it with its client."""

    def __init__(self, server: str, node: str, **config: Any) -> None:
        self.node = node
        self.runtime = FakeRuntime()
        self.runtime.all_images_present = False
        self.runtime.images = {"img:1", "busybox:latest"}
        cfg = KubeletConfig(node_name=node, port=free_port(), backoff_base=0.4, backoff_cap=3.2,
                            relist_seconds=1.0, **config)

        def factory(_: str) -> ContainerRuntime:
            return self.runtime
        self.agent = KubeletAgent(server, factory, cfg, serve_http=False)
        self.client = AsyncClient(server)

    async def __aenter__(self) -> Harness:
        await self.agent.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        await self.agent.stop()
        await self.client.close()

    async def create(self, containers: list[dict[str, Any]], **spec: Any) -> Pod:
        p = Pod.from_dict({"metadata": {"name": unique("kp"), "namespace": "default"},
                           "spec": {"nodeName": self.node, "containers": containers,
                                    "terminationGracePeriodSeconds": 1, **spec}})
        return await self.client.create(p)

    async def get(self, p: Pod) -> Pod:
        return await self.client.get(Pod, p.metadata.name or "", "default")

    async def status_of(self, p: Pod, pred: Any, timeout: float = 10, what: str = "") -> Pod:
        async def check() -> Pod | None:
            got = await self.get(p)
            return got if got.status is not None and pred(got) else None
        return await async_wait_for(check, timeout=timeout, message=what or "pod status")


def cstatus(p: Pod, i: int = 0) -> dict[str, Any]:
    assert p.status is not None and p.status.container_statuses is not None
    return p.status.container_statuses[i].to_dict()


def make_pod(api: Client, node: str, containers: list[dict[str, Any]], prefix: str,
             **spec: Any) -> Pod:
    """A pod in default bound to ``node`` (no scheduler), with a 2 s grace period."""
    p = Pod.from_dict({"metadata": {"name": unique(prefix), "namespace": "default"},
                       "spec": {"nodeName": node, "containers": containers,
                                "terminationGracePeriodSeconds": 2, **spec}})
    return api.create(p)


def wait_pod(api: Client, p: Pod, pred: Any, timeout: float, what: str = "pod",
             interval: float = 0.1) -> Pod:
    """The pod once ``pred`` holds for it; a timeout shows its last status."""
    last: list[Pod] = []

    def check() -> Pod | None:
        g = api.get(Pod, p.metadata.name or "", "default")
        last[:] = [g]
        return g if g.status is not None and pred(g) else None
    try:
        return wait_for(check, timeout=timeout, interval=interval, message=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: "
                             f"{last[0].status.to_dict() if last and last[0].status else None}") from None


def docker_client() -> Any:
    """A Docker client that answers, or the test is skipped."""
    docker = pytest.importorskip("docker")
    try:
        d = docker.from_env()
        d.ping()
        return d
    except Exception as exc:
        pytest.skip(f"no Docker daemon: {exc}")


def cleanup(dk: Any, node: str) -> None:
    """Remove every container the kubelet of ``node`` left in Docker."""
    for c in dk.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"}):
        try:
            c.remove(force=True)
        except Exception:
            pass


class KubeletProc:
    """``python -m kubelet`` on the Docker runtime, started once its /healthz answers."""

    def __init__(self, server: str, node: str, root: str, port: int | None = None,
                 docker_host: str = "unix:///var/run/docker.sock", extra: tuple[str, ...] = ()
                 ) -> None:
        self.node = node
        self.docker_host = docker_host
        self.root = root
        self.port = port or free_port()
        self.server = server
        self.extra = extra
        self.proc: Process | None = None

    def start(self) -> KubeletProc:
        self.proc = service(f"kubelet-{self.node}", "kubelet", [
            "--server", self.server, "--node-name", self.node, "--runtime", "docker",
            "--port", str(self.port), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
            "--root-dir", self.root, "--backoff-base", "1", "--relist-seconds", "2",
            "--heartbeat-seconds", "1", "--docker-host", self.docker_host, *self.extra])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{self.proc.log_tail()}")
        return self

    def stop(self, sig: int | None = None) -> None:
        if self.proc is not None:
            if sig is None:
                self.proc.stop()
            else:
                self.proc.stop(sig)

    def assert_no_runtime_warning(self) -> None:
        """The kubelet's log shows no RuntimeWarning (a coroutine never awaited)."""
        if self.proc is None:
            return
        try:
            text = self.proc.log_path.read_text(errors="replace")
        except OSError:
            return
        assert "RuntimeWarning" not in text, f"kubelet {self.node}: {text[-3000:]}"


@contextmanager
def kubelet_on_docker(server: str, dk: Any, prefix: str, *extra: str) -> Iterator[KubeletProc]:
    """A kubelet process on Docker for a new node named ``prefix-...`` with a temporary root
    dir; on exit it stops, and its containers and root dir are removed."""
    node = unique(prefix)
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    k = KubeletProc(server, node, root, extra=extra)
    try:
        yield k.start()
    finally:
        k.stop()
        cleanup(dk, node)
        shutil.rmtree(root, ignore_errors=True)
    k.assert_no_runtime_warning()


def docker_fixtures(prefix: str) -> tuple[Any, Any]:
    """The module-scoped ``kubelet`` (a kubelet process on Docker for a node named
    ``prefix-...``) and ``api`` (a REST client) fixtures of a Docker test module:
    ``kubelet, api = helpers.docker_fixtures("dnode")``."""

    @pytest.fixture(scope="module")
    def kubelet(server_url: str, dk: Any) -> Iterator[KubeletProc]:
        with kubelet_on_docker(server_url, dk, prefix) as k:
            yield k

    @pytest.fixture(scope="module")
    def api(server_url: str) -> Iterator[Client]:
        c = Client(server_url)
        yield c
        c.close()

    return kubelet, api


def on_pty(argv: list[str], env: dict[str, str], timeout: float = 30, typed: bytes = b"",
           cwd: Path | None = None) -> tuple[int, str]:
    """Run ``argv`` on a new 33x101 terminal; with ``typed``, type it once a shell prompt
    (``# ``) shows; (exit code, everything it printed)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                         start_new_session=True, cwd=cwd)
    os.close(slave)
    out = b""
    sent = not typed
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
                if not sent and b"# " in out.rsplit(b"\n", 1)[-1]:
                    os.write(master, typed)
                    sent = True
            elif p.poll() is not None:
                break
            elif not sent and b"try pressing enter" in out:
                os.write(master, b"\r")  # the prompt was printed before we attached
    finally:
        os.close(master)
    return p.wait(timeout=10), out.decode(errors="replace")
