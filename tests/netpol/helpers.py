"""Shared pieces of the policy agent's tests: the skip for hosts without root, iptables,
ipset or the pods' bridge; the agent as a process; busybox pods on the bridge that the
API server knows (a Pod object whose status carries the container's address); and the
probe matrix of Kubernetes' netpol e2e suite (every pod to every pod on one port)."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psutil
import pytest

from testing.apiclient import Api
from testing.support import Process, free_port, http_ok, unique, wait_for

PODS_NETWORK = "minik8s-pods"
BUSYBOX = "minik8s/busybox:latest"
PREFIX = "MK8S-NP"
PORTS = (80, 81)
CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
T = TypeVar("T")  # each pod serves HTTP on both: container ports serve-80 and serve-81


def sh(*argv: str, check: bool = True, timeout: float = 60) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True,
                          timeout=timeout).stdout


def usable() -> str | None:
    """Why the data-path tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("iptables-restore", "ipset", "docker"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    try:
        sh("docker", "network", "inspect", PODS_NETWORK)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        return f"no Docker network {PODS_NETWORK}"
    return None


def other_agent_running() -> str | None:
    me = os.getpid()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["pid"] == me or "--cleanup" in cmd:
            continue
        if "proxy.netpol" in cmd or any("minik8s-netpol" in c for c in cmd):
            return f"pid {p.info['pid']}: {' '.join(cmd)[:120]}"
    return None


class AgentProc(Process):
    """``python -m proxy.netpol`` on the host's tables."""

    def __init__(self, server: str) -> None:
        self.health_port = free_port()
        super().__init__("netpol", [
            sys.executable, "-m", "proxy.netpol", "--server", server,
            "--healthz-bind-address", f"127.0.0.1:{self.health_port}"])

    def start(self) -> AgentProc:
        super().start()
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.health_port}/healthz")
                 or not self.alive(), timeout=30, message="netpol agent healthz")
        if not self.alive():
            raise RuntimeError(f"agent exited:\n{self.log_tail()}")
        return self

    def metric(self, name: str) -> float:
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics",
                                    timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(f"{name} "):
                    return float(line.split()[1])
        raise KeyError(name)


def cleanup_host() -> None:
    subprocess.run([sys.executable, "-m", "proxy.netpol", "--cleanup"], check=True,
                   capture_output=True, timeout=60)


def leftovers() -> list[str]:
    """Our chains, rules and sets still in the host's tables."""
    out = [line for line in sh("iptables-save", "-t", "filter").splitlines()
           if PREFIX in line]
    out += [n for n in sh("ipset", "list", "-n").split() if n.startswith(PREFIX)]
    return out


@dataclass
class TestPod:
    __test__ = False

    namespace: str
    name: str
    container: str
    ip: str
    pid: int = 0  # the container's first process: its network namespace

    @property
    def label(self) -> str:
        return f"{self.namespace.rsplit('-', 1)[-1]}/{self.name}"


def container_spec(name: str) -> dict[str, Any]:
    return {"name": "c", "image": BUSYBOX,
            "ports": [{"name": f"serve-{p}", "containerPort": p} for p in PORTS]}


def start_pods(api: Api, namespaces: list[str], names: list[str]) -> list[TestPod]:
    """A busybox container per (namespace, name) on the bridge serving HTTP on PORTS, and
    its Pod object (labels pod=<name>) with the container's address as podIP."""
    script = " & ".join(f"httpd -f -p {p} -h /www" for p in PORTS)

    def run(name: str) -> tuple[str, str, int]:
        cname = unique("netpoltest")
        sh("docker", "run", "-d", "--name", cname, "--label", "minik8s.test=netpol",
           "--network", PODS_NETWORK, BUSYBOX, "sh", "-c",
           f"mkdir -p /www && echo {name} > /www/index.html && {script} & wait")
        ip, pid = sh("docker", "inspect", "-f",
                     "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}} {{.State.Pid}}",
                     cname).split()
        return cname, ip, int(pid)

    wanted = [(ns, name) for ns in namespaces for name in names]
    with ThreadPoolExecutor(min(8, len(wanted))) as ex:
        started = list(ex.map(lambda w: run(w[1]), wanted))
    pods: list[TestPod] = []
    for (ns, name), (cname, ip, pid) in zip(wanted, started, strict=True):
        url = f"/api/v1/namespaces/{ns}/pods"
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {"pod": name}},
                "spec": {"containers": [container_spec(name)]}}
        api.ok("POST", url, body, 201)
        cur = api.ok("GET", f"{url}/{name}")
        cur["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        api.ok("PUT", f"{url}/{name}/status", cur)
        pods.append(TestPod(ns, name, cname, ip, pid))
    return pods


def remove_containers(pods: list[TestPod]) -> None:
    if pods:
        subprocess.run(["docker", "rm", "-f", *(p.container for p in pods)],
                       capture_output=True, check=False, timeout=120)


def http_get(ip: str, port: int, timeout: float = 2.0) -> str | None:
    """One HTTP/1.0 GET on a new connection: the body stripped, None on any failure."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    return data.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()


def in_pod(pod: TestPod, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread that has joined the pod's network namespace (setns(2), which
    moves the calling thread only): its sockets are the pod's, its packets cross the
    bridge as the pod's own. The thread ends with it."""
    out: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/proc/{pod.pid}/ns/net", os.O_RDONLY)
            try:
                if _LIBC.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {pod.label}")
            finally:
                os.close(fd)
            out.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            err.append(exc)
    t = threading.Thread(target=run, name=f"in-{pod.label}")
    t.start()
    t.join(60)
    if err:
        raise err[0]
    if not out:
        raise TimeoutError(f"probes from {pod.label}")
    return out[0]


def probe_from(src: TestPod, dsts: list[TestPod], port: int) -> dict[str, bool]:
    """Can ``src`` fetch / from each destination on ``port`` (the body is the pod's name)?"""
    return in_pod(src, lambda: {d.label: http_get(d.ip, port) == d.name for d in dsts})


def matrix(pods: list[TestPod], port: int = 80) -> dict[tuple[str, str], bool]:
    """The probe matrix: (from, to) -> connected, every source in parallel."""
    with ThreadPoolExecutor(len(pods)) as ex:
        rows = list(ex.map(lambda s: probe_from(s, pods, port), pods))
    return {(s.label, d): ok for s, row in zip(pods, rows, strict=True) for d, ok in row.items()}


def diff(got: dict[tuple[str, str], bool], want: dict[tuple[str, str], bool]) -> str:
    bad = sorted(k for k in want if got.get(k) != want[k])
    return ", ".join(f"{a}->{b} {'open' if got.get((a, b)) else 'closed'}" for a, b in bad)


skip_unless_usable = pytest.mark.skipif(usable() is not None, reason=str(usable()))
