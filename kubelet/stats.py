"""The kubelet's Summary API (``GET /stats/summary``): node, pod and container CPU and memory.

The shape is Kubernetes' (k8s.io/kubelet/pkg/apis/stats/v1alpha1 ``Summary``): ``node``
with ``cpu`` {time, usageNanoCores, usageCoreNanoSeconds} and ``memory`` {time,
availableBytes, usageBytes, workingSetBytes, rssBytes, pageFaults, majorPageFaults}, and
``pods``, each with ``podRef``, ``startTime``, its ``containers`` (name, startTime, cpu,
memory) and the pod's totals (the sum of its containers).

Where the numbers come from:

- Docker: the cgroup files of each container, as cAdvisor reads them. cgroup v1:
  ``cpuacct.usage`` (core-ns), ``memory.usage_in_bytes``, and ``memory.stat`` (working
  set = usage - total_inactive_file, rss = total_rss); cgroup v2: ``cpu.stat``
  usage_usec, ``memory.current``, ``memory.stat`` inactive_file and anon. A container's
  directory is ``<controller>/<cgroup parent>/<id>`` (the kubelet's QoS parents
  /kubepods/..., Docker's /docker, or systemd's docker-<id>.scope). Where the files
  cannot be seen (a kubelet in a container with its own cgroup namespace) Docker's
  one-shot stats API gives the same counters. The node is the machine: /proc/stat and
  /proc/meminfo (the root cgroup where /proc/stat cannot be read).
- The fake runtime (hollow nodes): its synthetic usage (kubelet/runtime/fake.py); the
  node is its pods plus a constant system share (100m, 256 MiB).

``usageNanoCores`` is a rate, so it takes two samples: each request compares with the
previous request's sample when that is 0.5 to 30 s old, otherwise it samples twice,
1 s apart. Containers that are not running are left out, as cAdvisor does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubelet.runtime.base import ContainerInfo, ContainerRuntime
from kubelet.runtime.fake import FakeRuntime

JSONDict = dict[str, Any]

CGROUP_ROOT = Path("/sys/fs/cgroup")
_PARENTS = ("/kubepods/besteffort", "/kubepods/burstable", "/kubepods/guaranteed", "/kubepods",
            "/docker", "")
MIN_WINDOW = 0.5  # seconds: a shorter window between two samples says nothing
MAX_WINDOW = 30.0  # seconds: an older sample would average over too long
RESAMPLE = 1.0  # seconds between the two samples when there is no usable previous one
FAKE_SYSTEM_CPU_NS = 100_000_000  # the hollow node's own share: 100m
FAKE_SYSTEM_MEMORY = 256 * 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """Cumulative CPU and the memory counters of a cgroup at one time."""

    t: float  # unix seconds
    cpu_ns: int  # core-nanoseconds since it started
    usage: int  # memory bytes, page cache included
    working_set: int  # usage minus inactive file pages
    rss: int
    page_faults: int = 0
    major_page_faults: int = 0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[k] = int(v)
    except OSError:
        pass
    return out


class CgroupReader:
    """Reads containers' (and the machine's) counters from the cgroup file system."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()
        self._dirs: dict[str, tuple[Path, Path] | None] = {}  # id -> (cpu dir, memory dir)

    def _find(self, cid: str) -> tuple[Path, Path] | None:
        if cid in self._dirs:
            return self._dirs[cid]
        found: tuple[Path, Path] | None = None
        leaves = (cid, f"docker-{cid}.scope")
        for parent in (*_PARENTS, "/system.slice"):
            for leaf in leaves:
                rel = f"{parent}/{leaf}".lstrip("/")
                if self.v2:
                    d = self.root / rel
                    if (d / "cpu.stat").exists():
                        found = (d, d)
                else:
                    cpu, mem = self.root / "cpuacct" / rel, self.root / "memory" / rel
                    if (cpu / "cpuacct.usage").exists() and (mem / "memory.usage_in_bytes").exists():
                        found = (cpu, mem)
                if found:
                    break
            if found:
                break
        if found is not None:
            self._dirs[cid] = found
        return found

    def forget(self, keep: set[str]) -> None:
        for cid in list(self._dirs):
            if cid not in keep:
                del self._dirs[cid]

    def _usage(self, cpu_dir: Path, mem_dir: Path, t: float) -> Usage | None:
        if self.v2:
            cpu_us = _read_kv(cpu_dir / "cpu.stat").get("usage_usec")
            usage = _read_int(mem_dir / "memory.current")
            stat = _read_kv(mem_dir / "memory.stat")
            if cpu_us is None or usage is None:
                return None
            inactive, rss = stat.get("inactive_file", 0), stat.get("anon", 0)
            cpu_ns = cpu_us * 1000
            faults, major = stat.get("pgfault", 0), stat.get("pgmajfault", 0)
        else:
            cpu = _read_int(cpu_dir / "cpuacct.usage")
            usage = _read_int(mem_dir / "memory.usage_in_bytes")
            stat = _read_kv(mem_dir / "memory.stat")
            if cpu is None or usage is None:
                return None
            inactive, rss = stat.get("total_inactive_file", 0), stat.get("total_rss", 0)
            cpu_ns = cpu
            faults, major = stat.get("total_pgfault", 0), stat.get("total_pgmajfault", 0)
        return Usage(t=t, cpu_ns=cpu_ns, usage=usage, working_set=max(0, usage - inactive),
                     rss=rss, page_faults=faults, major_page_faults=major)

    def container(self, cid: str) -> Usage | None:
        dirs = self._find(cid)
        if dirs is None:
            return None
        got = self._usage(dirs[0], dirs[1], time.time())
        if got is None:
            self._dirs.pop(cid, None)  # removed meanwhile
        return got

    def machine(self) -> Usage | None:
        # /proc/stat first: inside a container (a kubelet of the compose cluster) the root
        # of the cgroup mounts is the container's own cgroup, while /proc/stat and
        # /proc/meminfo still describe the machine.
        t = time.time()
        cpu_ns = _proc_stat_ns()
        if cpu_ns is None and self.v2:
            cpu_us = _read_kv(self.root / "cpu.stat").get("usage_usec")
            cpu_ns = cpu_us * 1000 if cpu_us is not None else None
        elif cpu_ns is None:
            cpu_ns = _read_int(self.root / "cpuacct" / "cpuacct.usage")
        if cpu_ns is None:
            return None
        mem = _meminfo()
        total, avail = mem.get("MemTotal", 0) * 1024, mem.get("MemAvailable", 0) * 1024
        used = max(0, total - mem.get("MemFree", 0) * 1024)
        return Usage(t=t, cpu_ns=cpu_ns, usage=used, working_set=max(0, total - avail),
                     rss=max(0, total - avail - mem.get("Shmem", 0) * 1024))


def _proc_stat_ns() -> int | None:
    """The machine's busy CPU time (user+nice+system+irq+softirq+steal) in core-ns."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    except (OSError, ValueError, IndexError):
        return None
    return ticks * 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            k, _, v = line.partition(":")
            with contextlib.suppress(ValueError, IndexError):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def _docker_stats(runtime: ContainerRuntime, cid: str) -> Usage | None:
    """Docker's one-shot stats (blocking: call it off the event loop)."""
    api = getattr(runtime, "api", None)
    if api is None:
        return None
    try:
        s = api.stats(cid, stream=False, one_shot=True)
    except Exception:
        return None
    mem = s.get("memory_stats") or {}
    stat = mem.get("stats") or {}
    usage = int(mem.get("usage") or 0)
    inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)) or 0)
    cpu = int(((s.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
    if not cpu and not usage:
        return None
    return Usage(t=time.time(), cpu_ns=cpu, usage=usage, working_set=max(0, usage - inactive),
                 rss=int(stat.get("total_rss", stat.get("anon", 0)) or 0))


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_stats(cur: Usage, prev: Usage | None) -> JSONDict:
    out: JSONDict = {"time": _rfc3339(cur.t), "usageCoreNanoSeconds": cur.cpu_ns}
    if prev is not None and cur.t > prev.t:
        out["usageNanoCores"] = max(0, int((cur.cpu_ns - prev.cpu_ns) / (cur.t - prev.t)))
    return out


def memory_stats(cur: Usage, limit: int | None = None) -> JSONDict:
    out: JSONDict = {"time": _rfc3339(cur.t), "usageBytes": cur.usage,
                     "workingSetBytes": cur.working_set, "rssBytes": cur.rss,
                     "pageFaults": cur.page_faults, "majorPageFaults": cur.major_page_faults}
    if limit:
        out["availableBytes"] = max(0, limit - cur.working_set)
    return out


def _sum(items: list[Usage], t: float) -> Usage:
    return Usage(t=t, cpu_ns=sum(u.cpu_ns for u in items), usage=sum(u.usage for u in items),
                 working_set=sum(u.working_set for u in items), rss=sum(u.rss for u in items),
                 page_faults=sum(u.page_faults for u in items),
                 major_page_faults=sum(u.major_page_faults for u in items))


class StatsProvider:
    """Builds the Summary of one kubelet's node from its runtime."""

    def __init__(self, node_name: str, runtime: ContainerRuntime,
                 started: float | None = None, cgroups: CgroupReader | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node_name = node_name
        self.runtime = runtime
        self.started = started or time.time()
        self.cgroups = cgroups or CgroupReader()
        self._clock = clock
        self._prev: dict[str, tuple[float, Usage]] = {}  # key -> (monotonic, sample)
        self._lock = asyncio.Lock()

    async def _sample(self, containers: list[ContainerInfo]) -> dict[str, Usage]:
        """One sample of every running container (by id) and of the node ("")."""
        out: dict[str, Usage] = {}
        rt = self.runtime
        if isinstance(rt, FakeRuntime):
            t = time.time()
            for c in containers:
                got = rt.usage(c.id)
                if got is not None:
                    out[c.id] = Usage(t=t, cpu_ns=got[0], usage=got[1], working_set=got[1],
                                      rss=got[1])
            system = Usage(t=t, cpu_ns=int((t - self.started) * FAKE_SYSTEM_CPU_NS),
                           usage=FAKE_SYSTEM_MEMORY, working_set=FAKE_SYSTEM_MEMORY,
                           rss=FAKE_SYSTEM_MEMORY)
            out[""] = _sum([system, *out.values()], t)
            return out

        def read() -> dict[str, Usage]:
            got: dict[str, Usage] = {}
            for c in containers:
                u = self.cgroups.container(c.id) or _docker_stats(rt, c.id)
                if u is not None:
                    got[c.id] = u
            machine = self.cgroups.machine()
            if machine is not None:
                got[""] = machine
            self.cgroups.forget({c.id for c in containers})
            return got
        return await asyncio.to_thread(read)

    async def summary(self) -> JSONDict:
        async with self._lock:
            return await self._summary()

    async def _summary(self) -> JSONDict:
        listed = await self.runtime.list_containers(self.node_name)
        running = [c for c in listed if c.running]
        now = self._clock()
        cur = await self._sample(running)
        stale = [k for k in cur if k not in self._prev
                 or not MIN_WINDOW <= now - self._prev[k][0] <= MAX_WINDOW]
        if stale:
            for k in stale:
                self._prev[k] = (now, cur[k])
            await asyncio.sleep(RESAMPLE)
            now = self._clock()
            cur = await self._sample(running)
        prev = {k: v[1] for k, v in self._prev.items()}
        self._prev = {k: (now, u) for k, u in cur.items()}
        return self._build(running, cur, prev)

    def _build(self, running: list[ContainerInfo], cur: dict[str, Usage],
               prev: dict[str, Usage]) -> JSONDict:
        t = time.time()
        node_cur = cur.get("")
        node: JSONDict = {"nodeName": self.node_name, "startTime": _rfc3339(self.started)}
        if node_cur is not None:
            total = _meminfo().get("MemTotal", 0) * 1024 if not isinstance(
                self.runtime, FakeRuntime) else 0
            node["cpu"] = cpu_stats(node_cur, prev.get(""))
            node["memory"] = memory_stats(node_cur, total or None)
        pods: dict[str, JSONDict] = {}
        pod_usage: dict[str, tuple[list[Usage], list[Usage]]] = {}
        for c in sorted(running, key=lambda c: (c.pod_namespace, c.pod_name, c.container_name)):
            p = pods.setdefault(c.pod_uid, {
                "podRef": {"name": c.pod_name, "namespace": c.pod_namespace, "uid": c.pod_uid},
                "startTime": _rfc3339(c.started_ts or c.created_at or t), "containers": []})
            u = cur.get(c.id)
            if u is None:
                continue
            sums = pod_usage.setdefault(c.pod_uid, ([], []))
            sums[0].append(u)
            before = prev.get(c.id)
            if before is not None:
                sums[1].append(before)
            if c.is_sandbox:
                p["startTime"] = _rfc3339(c.started_ts or c.created_at or t)
                continue
            p["containers"].append({
                "name": c.container_name, "startTime": _rfc3339(c.started_ts or t),
                "cpu": cpu_stats(u, before), "memory": memory_stats(u)})
        for uid, p in pods.items():
            now_list, prev_list = pod_usage.get(uid, ([], []))
            if not now_list:
                continue
            pc = _sum(now_list, max(u.t for u in now_list))
            pp = (_sum(prev_list, max(u.t for u in prev_list))
                  if len(prev_list) == len(now_list) else None)
            p["cpu"] = cpu_stats(pc, pp)
            p["memory"] = memory_stats(pc)
        return {"node": node, "pods": [p for p in pods.values() if p["containers"]]}
