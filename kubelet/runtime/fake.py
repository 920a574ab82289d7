"""An in-memory runtime: containers start at once and run until they "exit" or a test says so.

It backs hollow nodes (many kubelets in one process, for scheduler/controller tests
and scale benchmarks) and the kubelet's own unit tests, which use its hooks to make
a container exit, fail a pull or fail an exec probe.

Containers that finish (so hollow nodes can run Jobs): the command and args are read
as a tiny script (``simulated_exit``). ``true`` exits 0 at once, ``false`` exits 1,
``sleep N`` exits 0 after N seconds, ``exit N`` ends with N, ``echo ...`` writes a log
line; ``sh -c 'sleep 2; echo done; exit 3'`` (statements split on ``;``, ``&&``, ``||``
and newlines) sleeps 2 s, logs "done" and exits 3. A failed statement before ``&&``
ends the script with its code. Anything else (a loop, ``trap``, ``httpd``, ``sleep
infinity``) or no command at all runs until stopped, as before. The environment can
say the same without a command: ``MINIK8S_FAKE_EXIT_AFTER_SECONDS`` (a number) and
``MINIK8S_FAKE_EXIT_CODE`` (default 0) make the container exit after that long.

Synthetic usage (kubelet/stats.py reads it for /stats/summary): each running container
burns ``MINIK8S_FAKE_CPU_MILLICORES`` (default 1) of CPU and holds
``MINIK8S_FAKE_MEMORY_BYTES`` (default 4 MiB) of memory, or what a test sets in
``FakeRuntime.usage_rates[(pod uid, container name)] = (millicores, bytes)``; the CPU
counter is the integral of the rate over time, so it only grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
import shlex
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from api.timeutil import now
from kubelet.runtime.base import (
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_TYPE,
    TYPE_SANDBOX,
    ContainerConfig,
    ContainerCreateError,
    ContainerInfo,
    ExecError,
    ExecResult,
    ExecSession,
    ImagePullError,
    PodSandboxConfig,
    SandboxInfo,
    normalize_image,
)
from kubelet.runtime.fake_exec import FakeExecSession

_ips = itertools.count(2)
_ids = itertools.count(1)


ENV_EXIT_AFTER = "MINIK8S_FAKE_EXIT_AFTER_SECONDS"
ENV_EXIT_CODE = "MINIK8S_FAKE_EXIT_CODE"
ENV_CPU = "MINIK8S_FAKE_CPU_MILLICORES"
ENV_MEMORY = "MINIK8S_FAKE_MEMORY_BYTES"
DEFAULT_CPU_MILLICORES = 1
DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024

_SPLIT = re.compile(r"(;|&&|\|\||\n)")


def simulated_exit(argv: list[str], env: dict[str, str] | None = None
                   ) -> tuple[float, int, list[str]] | None:
    """(seconds until exit, exit code, log lines) the command means, or None: runs forever.

    See the module docstring for what is understood; the environment's
    MINIK8S_FAKE_EXIT_AFTER_SECONDS wins over the command.
    """
    env = env or {}
    if env.get(ENV_EXIT_AFTER):
        try:
            after = float(env[ENV_EXIT_AFTER])
            code = int(env.get(ENV_EXIT_CODE) or 0)
        except ValueError:
            return None
        return max(0.0, after), code, []
    if not argv:
        return None
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and argv[1] == "-c":
        parts = _SPLIT.split(argv[2])
    else:
        parts = [shlex.join(argv)]
    seconds, code, op = 0.0, 0, ";"
    logs: list[str] = []
    for part in parts:
        if part in (";", "&&", "||", "\n"):
            op = part if part != "\n" else ";"
            continue
        if not part.strip():
            continue
        if (op == "&&" and code != 0) or (op == "||" and code == 0):
            # a && b after a failure (or a || b after success): b is skipped; nothing
            # else of the script is understood well enough to go on
            return seconds, code, logs
        try:
            words = shlex.split(part)
        except ValueError:
            return None
        name, args = words[0], words[1:]
        if name == "sleep" and len(args) == 1:
            try:
                n = float(args[0].rstrip("s"))
            except ValueError:
                return None  # 1m, 2h, ...
            if not math.isfinite(n) or n < 0:
                return None  # sleep infinity
            seconds += n
            code = 0
        elif name == "exit":
            try:
                return seconds, int(args[0]) if args else code, logs
            except ValueError:
                return None
        elif name in ("true", ":"):
            code = 0
        elif name == "false":
            code = 1
        elif name == "echo":
            logs.append(" ".join(args))
            code = 0
        else:
            return None
    return seconds, code, logs


def _next_ip() -> str:
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class FakeRuntime:
    name = "fake"

    def __init__(self, images: set[str] | None = None, all_images_present: bool = True) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.images: set[str] = set(images or ())
        self.all_images_present = all_images_present
        self.pull_errors: dict[str, str] = {}  # image -> the daemon message to fail with
        self.start_errors: dict[str, str] = {}  # container name -> message
        self.exec_results: dict[tuple[str, str], int] = {}  # (pod uid, container) -> exit code
        self.exec_sessions: list[FakeExecSession] = []  # interactive execs, oldest first
        self.attach_sessions: list[FakeExecSession] = []  # attaches, oldest first
        self.pull_delays: dict[str, float] = {}  # image -> seconds a pull takes
        self.pulls: list[str] = []
        self.removed_pod_dirs: list[str] = []
        self.envs: dict[str, dict[str, str]] = {}  # container id -> its environment
        self.up = True
        # When set, every sandbox gets this IP (a test's port-forward reaches its own server
        # on loopback); otherwise each gets a fresh 10.x.y.z that nothing answers.
        self.sandbox_ip: str | None = None
        self._watchers: list[asyncio.Queue[tuple[str, str]]] = []
        self._logs: dict[str, list[bytes]] = {}
        # (pod uid, container name) -> (millicores, bytes) of synthetic usage
        self.usage_rates: dict[tuple[str, str], tuple[int, int]] = {}
        self._cpu: dict[str, tuple[float, float]] = {}  # container id -> (time, core-ns)
        self._exits: dict[str, asyncio.Task[None]] = {}

    # ---- hooks for tests -------------------------------------------------

    def find(self, pod_uid: str, name: str, running: bool | None = None) -> ContainerInfo | None:
        """The newest container ``name`` of the pod (optionally only a running one)."""
        found = [c for c in self.containers.values() if c.pod_uid == pod_uid
                 and c.container_name == name and (running is None or c.running == running)]
        return max(found, key=lambda c: (c.restart_count, c.created_at), default=None)

    def exit_container(self, container_id: str, code: int, oom: bool = False) -> None:
        c = self.containers[container_id]
        if not c.running:
            return
        self.containers[container_id] = replace(
            c, state="exited", exit_code=code, oom_killed=oom, finished_at=now(),
            finished_ts=time.time())
        self._notify(c.pod_uid, "die")

    def usage(self, container_id: str) -> tuple[int, int] | None:
        """(cumulative CPU core-nanoseconds, memory bytes) of a container, None when it
        is not running (sandboxes use nothing)."""
        c = self.containers.get(container_id)
        if c is None or not c.running:
            return None
        if c.is_sandbox:
            return 0, 0
        env = self.envs.get(container_id, {})
        cpu, mem = DEFAULT_CPU_MILLICORES, DEFAULT_MEMORY_BYTES
        with contextlib.suppress(ValueError):
            cpu = int(env.get(ENV_CPU) or cpu)
        with contextlib.suppress(ValueError):
            mem = int(env.get(ENV_MEMORY) or mem)
        cpu, mem = self.usage_rates.get((c.pod_uid, c.container_name), (cpu, mem))
        t = time.time()
        last, total = self._cpu.get(container_id, (c.started_ts or t, 0.0))
        total += max(0.0, t - last) * cpu * 1_000_000
        self._cpu[container_id] = (t, total)
        return int(total), mem

    def write_log(self, container_id: str, data: bytes) -> None:
        self._logs.setdefault(container_id, []).append(data)

    def _notify(self, uid: str, action: str) -> None:
        for q in self._watchers:
            q.put_nowait((uid, action))

    # ---- ContainerRuntime ------------------------------------------------

    async def version(self) -> str:
        return "0.0.0-fake"

    async def ping(self) -> bool:
        return self.up

    async def image_id(self, image: str) -> str | None:
        if self.all_images_present or normalize_image(image) in self.images:
            return f"sha256:fake-{image}"
        return None

    async def image_size(self, image_id: str) -> int:
        return 1024

    async def pull_image(self, image: str, progress_deadline: float | None = None) -> str:
        self.pulls.append(image)
        await asyncio.sleep(self.pull_delays.get(image, 0.0))
        for name in (image, normalize_image(image)):
            if name in self.pull_errors:
                raise ImagePullError(self.pull_errors[name])
        self.images.add(normalize_image(image))
        return f"sha256:fake-{image}"

    def _add(self, name: str, labels: dict[str, str], image: str,
             ip: str | None = None) -> ContainerInfo:
        cid = f"{next(_ids):064x}"
        info = ContainerInfo(
            id=cid, name=name, pod_uid=labels[LABEL_POD_UID], pod_name=labels[LABEL_POD_NAME],
            pod_namespace=labels[LABEL_POD_NAMESPACE], container_name=labels[LABEL_CONTAINER_NAME],
            restart_count=int(labels[LABEL_RESTART_COUNT]),
            is_sandbox=labels[LABEL_TYPE] == TYPE_SANDBOX,
            state="running", created_at=time.time(), started_at=now(), started_ts=time.time(),
            image=image, image_id=f"sha256:fake-{image}", ip=ip, labels=dict(labels))
        self.containers[cid] = info
        return info

    async def run_sandbox(self, config: PodSandboxConfig) -> SandboxInfo:
        info = self._add(config.name, config.labels, "minik8s/pause:3.9",
                         self.sandbox_ip or _next_ip())
        return SandboxInfo(id=info.id, ip=info.ip or "")

    async def start_container(self, config: ContainerConfig, sandbox: SandboxInfo) -> str:
        name = config.labels[LABEL_CONTAINER_NAME]
        if name in self.start_errors:
            raise ContainerCreateError(self.start_errors[name])
        info = self._add(config.name, config.labels, config.image)
        self.envs[info.id] = dict(config.envs)
        self._notify(info.pod_uid, "start")
        plan = simulated_exit([*(config.command or []), *(config.args or [])], config.envs)
        if plan is not None:
            self._exits[info.id] = asyncio.create_task(self._exit_later(info.id, *plan))
        return info.id

    async def _exit_later(self, container_id: str, seconds: float, code: int,
                          logs: list[str]) -> None:
        try:
            for line in logs:
                self.write_log(container_id, (line + "\n").encode())
            await asyncio.sleep(seconds)
            if container_id in self.containers:
                self.exit_container(container_id, code)
        finally:
            self._exits.pop(container_id, None)

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        c = self.containers.get(container_id)
        if c is not None and c.running:
            self.containers[container_id] = replace(
                c, state="exited", exit_code=0 if c.is_sandbox else 137, finished_at=now(),
                finished_ts=time.time())

    async def remove_container(self, container_id: str) -> None:
        c = self.containers.pop(container_id, None)
        self._logs.pop(container_id, None)
        self._cpu.pop(container_id, None)
        task = self._exits.pop(container_id, None)
        if task is not None:
            task.cancel()
        if c is not None:
            self._notify(c.pod_uid, "destroy")

    async def list_containers(self, node: str, pod_uid: str | None = None) -> list[ContainerInfo]:
        return [c for c in self.containers.values() if c.labels.get(LABEL_NODE) == node
                and (pod_uid is None or c.pod_uid == pod_uid)]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        return self.containers.get(container_id)

    async def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        if container_id not in self.containers:
            raise KeyError(container_id)
        lines = self._logs.get(container_id, [])
        for chunk in lines[-tail:] if tail else lines:
            yield chunk

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        c = self.containers.get(container_id)
        if c is None or not c.running:
            return ExecResult(exit_code=-1, output="container not running")
        return ExecResult(exit_code=self.exec_results.get((c.pod_uid, c.container_name), 0),
                          output="")

    async def exec_stream(self, container_id: str, command: list[str], stdin: bool,
                          tty: bool) -> ExecSession:
        c = self.containers.get(container_id)
        if c is None:
            raise KeyError(container_id)
        if not c.running:
            raise ExecError(f"container {container_id} is not running")
        session = FakeExecSession(command, stdin, tty)
        self.exec_sessions.append(session)
        return session

    async def attach_stream(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        """The fake container's process behaves as ``cat``: stdin comes back as output."""
        c = self.containers.get(container_id)
        if c is None:
            raise KeyError(container_id)
        if not c.running:
            raise ExecError(f"container {container_id} is not running")
        session = FakeExecSession(["cat"], stdin, tty)
        self.attach_sessions.append(session)
        return session

    async def remove_pod_dirs(self, pod_uid: str) -> None:
        self.removed_pod_dirs.append(pod_uid)

    async def watch_events(self, node: str) -> AsyncIterator[tuple[str, str]]:
        q: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._watchers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._watchers.remove(q)

    async def close(self) -> None:
        for task in list(self._exits.values()):
            task.cancel()
        self._exits.clear()

