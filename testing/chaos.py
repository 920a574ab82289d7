"""The chaos harness: a small HA cluster of real local processes, faults injected into
them, and the checks that prove nothing was lost (tests/chaos, docs/chaos.md).

``HACluster`` starts, on loopback:

- 3 etcd members (a static initial cluster) with their data dirs kept across restarts;
- 2 API servers on all three members, each with an audit log of the pods' bindings;
- a TCP balancer (``python -m testing.chaos balance``, a process of its own): round robin
  over the API servers that answer ``/readyz``, checked every 0.5 s; every other client
  (scheduler, controller-manager, kubelets, the tests) reaches the API through it;
- 2 schedulers and 2 controller-managers with ``--leader-elect`` and short leases
  (duration 4 s, renew deadline 3 s, retry 1 s);
- 2 kubelets: one on the fake runtime (hollow, holds the bulk of the pods) and, when Docker
  answers, one on Docker (``--max-pods`` small) so containers left behind can be checked;
- optionally a proxy in iptables mode inside a network namespace of its own.

A fault is one of ``FAULTS`` applied to one process (``Target``): ``kill9`` (SIGKILL, then the
process is started again after ``RESTART_DELAY`` as a supervisor would), ``stop15`` (SIGSTOP
for 15 s, then SIGCONT) and ``restart`` (SIGTERM, wait for the exit, start).

Checks (``Checker``) after the cluster converged: every acknowledged write is there, no two
live pods for one ReplicaSet slot or StatefulSet ordinal, no pod bound twice (the API
servers' audit logs), no container left for a pod that is gone, no orphaned object, and no
iptables rule left for a Service that is gone (when a proxy runs).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testing.support import LOG_DIR, Process, etcd_binary, free_port, http_ok, unique, wait_for

LEASE_ARGS = ["--leader-elect", "--leader-elect-lease-duration", "4",
              "--leader-elect-renew-deadline", "3", "--leader-elect-retry-period", "1"]
SERVICE_COMMENT = re.compile(r'--comment "?([a-z0-9][-a-z0-9]*)/([a-z0-9][-a-z0-9.]*)[:" ]')
STOP_SECONDS = 15.0
RESTART_DELAY = 2.0
FAULTS = ("kill9", "stop15", "restart")
TARGETS = ("etcd-member", "etcd-leader", "apiserver", "scheduler-leader", "cm-leader",
           "kubelet", "proxy")
IMAGE = "minik8s/busybox:latest"
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Request
  resources:
  - group: ""
    resources: ["pods/binding"]
- level: None
"""


# ---------------------------------------------------------------------------- processes


class Restartable(Process):
    """A process that can be signalled and started again with the same argv and log.

    ``held`` while a fault owns it (the supervisor leaves it alone); ``restarts`` counts the
    supervisor's restarts of it after it exited on its own (a controller-manager that lost
    its lease exits, as kube-controller-manager does)."""

    held = False
    restarts = 0

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def wait_exit(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)

    def ready(self) -> bool:
        return self.alive()

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_for(lambda: self.ready() or not self.alive(), timeout=timeout,
                 message=f"{self.name} ready:\n{self.log_tail()}")
        if not self.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")


class EtcdMember(Restartable):
    def __init__(self, name: str, port: int, peer: int, cluster: str, token: str) -> None:
        self.member = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = tempfile.mkdtemp(prefix="minik8s-chaos-etcd-")
        super().__init__(f"chaos-{name}", [
            etcd_binary(), "--name", name, "--data-dir", self.data_dir,
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--log-level", "warn",
        ], env={"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")})

    def status(self) -> dict[str, Any] | None:
        try:
            req = urllib.request.Request(self.url + "/v3/maintenance/status", data=b"{}",
                                         method="POST")
            with urllib.request.urlopen(req, timeout=1) as r:
                return dict(json.loads(r.read()))
        except Exception:
            return None

    def ready(self) -> bool:
        return http_ok(self.url + "/health")


class ApiServerProc(Restartable):
    def __init__(self, name: str, etcd_servers: str, audit_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.audit_log = audit_dir / f"{name}.audit.log"
        policy = audit_dir / "policy.yaml"
        super().__init__(f"chaos-{name}", [
            sys.executable, "-m", "apiserver", "--etcd-servers", etcd_servers,
            "--bind-address", "127.0.0.1", "--port", str(self.port),
            "--disable-admission-plugins=ServiceAccount",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--audit-log-path", str(self.audit_log), "--audit-policy-file", str(policy),
        ])

    def ready(self) -> bool:
        return http_ok(self.url + "/readyz")


class Service(Restartable):
    """A scheduler, controller-manager, kubelet or proxy; ``identity`` names it in Leases."""

    def __init__(self, name: str, module: str, args: list[str], identity: str = "",
                 health: str = "") -> None:
        self.identity = identity
        self.health = health
        super().__init__(f"chaos-{name}", [sys.executable, "-m", module, *args])

    def ready(self) -> bool:
        return self.alive() and (not self.health or http_ok(self.health))


class Balancer(Restartable):
    def __init__(self, backends: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("chaos-balancer", [
            sys.executable, "-m", "testing.chaos", "balance", "--port", str(self.port),
            *itertools.chain.from_iterable(("--backend", b) for b in backends)])

    def ready(self) -> bool:
        return http_ok(self.url + "/readyz")


# ---------------------------------------------------------------------------- the balancer


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def _balance(port: int, backends: list[tuple[str, int]], period: float) -> None:
    healthy = list(backends)
    rr = itertools.count()

    async def probe(host: str, bport: int) -> bool:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, bport), 1.0)
            w.write(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
            line = await asyncio.wait_for(r.readline(), 1.0)
            w.close()
            return line.split(b" ")[1:2] == [b"200"]
        except (TimeoutError, OSError, IndexError):
            return False

    async def check() -> None:
        nonlocal healthy
        while True:
            ok = await asyncio.gather(*(probe(h, p) for h, p in backends))
            healthy = [b for b, good in zip(backends, ok, strict=True) if good]
            await asyncio.sleep(period)

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        pool = healthy or backends
        for _ in range(len(pool)):
            host, bport = pool[next(rr) % len(pool)]
            try:
                br, bw = await asyncio.wait_for(asyncio.open_connection(host, bport), 1.0)
            except (TimeoutError, OSError):
                continue
            await asyncio.gather(_pipe(cr, bw), _pipe(br, cw))
            return
        cw.close()

    checker = asyncio.create_task(check())
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()
    checker.cancel()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m testing.chaos")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("balance", help="a TCP balancer over the API servers that are ready")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--backend", action="append", required=True, metavar="HOST:PORT")
    b.add_argument("--period", type=float, default=0.5)
    a = p.parse_args(argv)
    backends = [(h, int(pt)) for h, _, pt in (x.rpartition(":") for x in a.backend)]
    try:
        asyncio.run(_balance(a.port, backends, a.period))
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------- the client


class Api:
    """JSON over the balancer, retried across connection failures (within ``deadline``).

    ``call`` returns (status, body); a status of 0 means no answer came back, so the write
    may or may not have happened (it is not an acknowledgement)."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def call_once(self, method: str, path: str, body: Any = None,
                  content_type: str = "application/json", **params: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            r = self.client.request(method, path, content=data, headers=headers,
                                    params=params or None)
        except httpx.HTTPError:
            return 0, None
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def call(self, method: str, path: str, body: Any = None, deadline: float = 30.0,
             content_type: str = "application/json", **params: Any) -> tuple[int, Any]:
        """Retried while there is no answer or the server says it is unavailable (for
        reads and idempotent writes; a create retried after no answer may get a 409)."""
        end = time.monotonic() + deadline
        while True:
            code, out = self.call_once(method, path, body, content_type, **params)
            if code not in (0, 429, 500, 502, 503, 504) or time.monotonic() > end:
                return code, out
            time.sleep(0.2)

    def get(self, path: str, **params: Any) -> Any:
        code, out = self.call("GET", path, **params)
        if code == 404:
            return None
        assert code == 200, f"GET {path}: {code} {out}"
        return out

    def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(path, **params)["items"])


# ---------------------------------------------------------------------------- the cluster


@dataclass
class Target:
    kind: str
    proc: Restartable


class HACluster:
    def __init__(self, docker: bool = True, proxy: bool = False,
                 docker_max_pods: int = 4) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="minik8s-chaos-"))
        (self.dir / "policy.yaml").write_text(AUDIT_POLICY)
        ports = [(free_port(), free_port()) for _ in range(3)]
        cluster = ",".join(f"etcd{i}=http://127.0.0.1:{p}" for i, (_, p) in enumerate(ports))
        token = os.path.basename(self.dir)
        self.etcd = [EtcdMember(f"etcd{i}", c, p, cluster, token)
                     for i, (c, p) in enumerate(ports)]
        servers = ",".join(m.url for m in self.etcd)
        self.apiservers = [ApiServerProc(f"apiserver{i}", servers, self.dir) for i in range(2)]
        self.balancer = Balancer([f"127.0.0.1:{a.port}" for a in self.apiservers])
        url = self.balancer.url
        self.url = url
        tag = unique("c")
        self.schedulers = [Service(f"scheduler{i}", "scheduler", [
            "--server", url, *LEASE_ARGS, "--identity", f"{tag}-sched{i}"],
            identity=f"{tag}-sched{i}") for i in range(2)]
        self.cms = [Service(f"cm{i}", "controllers", [
            "--server", url, *LEASE_ARGS, "--identity", f"{tag}-cm{i}",
            "--job-pod-failure-backoff", "1", "--job-sync-batch-period", "0.2"],
            identity=f"{tag}-cm{i}") for i in range(2)]
        self.fake_node = f"{tag}-hollow"
        self.docker_node = f"{tag}-docker" if docker else ""
        hp = free_port()
        self.kubelets = [Service("kubelet-hollow", "kubelet", [
            "--server", url, "--node-name", self.fake_node, "--runtime", "fake",
            "--port", str(free_port()), "--address", "127.0.0.1",
            "--node-ip", "127.0.0.1", "--heartbeat-seconds", "2",
            "--healthz-port", str(hp), "--backoff-base", "1", "--relist-seconds", "1"],
            health=f"http://127.0.0.1:{hp}/healthz")]
        self.kubelet_root = tempfile.mkdtemp(prefix="minik8s-chaos-kubelet-")
        if docker:
            hp2 = free_port()
            self.kubelets.append(Service("kubelet-docker", "kubelet", [
                "--server", url, "--node-name", self.docker_node, "--runtime", "docker",
                "--port", str(free_port()), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
                "--root-dir", self.kubelet_root, "--backoff-base", "1", "--relist-seconds", "1",
                "--heartbeat-seconds", "2", "--healthz-port", str(hp2),
                "--max-pods", str(docker_max_pods)],
                health=f"http://127.0.0.1:{hp2}/healthz"))
        self.proxy: Service | None = None
        self.proxy_netns = ""
        if proxy:
            # the rules go to a network namespace of their own: the host's tables (and any
            # other proxy's) are never touched
            self.proxy_netns = unique("chaosproxy")
            hz = free_port()
            self.proxy = Service("proxy", "proxy", [
                "--server", url, "--node-name", self.fake_node, "--proxy-mode", "iptables",
                "--netns", self.proxy_netns, "--min-sync-period", "0.2",
                "--healthz-bind-address", f"127.0.0.1:{hz}"],
                health=f"http://127.0.0.1:{hz}/healthz")

    # -- life cycle

    def all(self) -> list[Restartable]:
        out: list[Restartable] = [*self.etcd, *self.apiservers, self.balancer, *self.schedulers,
                                  *self.cms, *self.kubelets]
        if self.proxy:
            out.append(self.proxy)
        return out

    def start(self) -> HACluster:
        if self.proxy_netns:
            subprocess.run(["ip", "netns", "add", self.proxy_netns], check=True,
                           capture_output=True)
        for m in self.etcd:
            m.start()
        for m in self.etcd:
            m.wait_ready(30)
        for a in self.apiservers:
            a.start()
        for a in self.apiservers:
            a.wait_ready(60)
        self.balancer.start()
        self.balancer.wait_ready(20)
        for s in [*self.schedulers, *self.cms, *self.kubelets]:
            s.start()
        if self.proxy:
            self.proxy.start()
        self.wait_healthy(90)
        self.supervise()
        return self

    def stop(self) -> None:
        supervising = getattr(self, "_supervising", None)
        if supervising is not None:
            supervising.set()
        for p in reversed(self.all()):
            p.signal(signal.SIGCONT)
            p.stop()
        for m in self.etcd:
            shutil.rmtree(m.data_dir, ignore_errors=True)
        if self.docker_node:
            cleanup_containers(self.docker_node)
        shutil.rmtree(self.kubelet_root, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.proxy_netns:
            subprocess.run(["ip", "netns", "del", self.proxy_netns], check=False,
                           capture_output=True)

    def heal(self) -> None:
        """Every process running again (a stopped one continued, an exited one started)."""
        for p in self.all():
            if not p.held:
                p.signal(signal.SIGCONT)
            if not p.held and not p.alive():
                p.start()

    def supervise(self) -> None:
        """A supervisor (systemd's Restart=always, a kubelet's static pods): in the
        background, a process that exited on its own is started again after
        ``RESTART_DELAY``; one a fault holds is left alone."""
        self._supervising = threading.Event()

        def loop() -> None:
            seen: dict[str, float] = {}
            while not self._supervising.wait(0.5):
                now = time.monotonic()
                for p in self.all():
                    if p.held or p.alive():
                        seen.pop(p.name, None)
                        continue
                    since = seen.setdefault(p.name, now)
                    if now - since >= RESTART_DELAY:
                        p.restarts += 1
                        p.start()
                        seen.pop(p.name, None)
        threading.Thread(target=loop, daemon=True, name="chaos-supervisor").start()

    def supervisor_restarts(self) -> dict[str, int]:
        return {p.name.removeprefix("chaos-"): p.restarts for p in self.all() if p.restarts}

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every process up, etcd with a leader, both API servers ready, a leader for the
        scheduler and the controller-manager, and the nodes Ready."""
        self.heal()
        api = Api(self.url)
        try:
            try:
                wait_for(lambda: all(p.alive() and p.ready() for p in self.all()),
                         timeout=timeout, interval=0.3, message="every process ready")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: not ready: " + ", ".join(
                    f"{p.name} ({p.log_path})" for p in self.all() if not p.ready())) from None
            wait_for(lambda: self.etcd_leader() is not None, timeout=timeout, message="etcd leader")
            wait_for(lambda: self.leader("scheduler") and self.leader("cm"), timeout=timeout,
                     interval=0.3, message="scheduler and controller-manager leaders")

            def nodes_ready() -> bool:
                for n in [self.fake_node, *([self.docker_node] if self.docker_node else [])]:
                    node = api.get(f"/api/v1/nodes/{n}")
                    conds = {c["type"]: c["status"]
                             for c in ((node or {}).get("status") or {}).get("conditions") or []}
                    if conds.get("Ready") != "True":
                        return False
                return True
            wait_for(nodes_ready, timeout=timeout, interval=0.3, message="nodes Ready")
        finally:
            api.close()

    # -- targets

    def etcd_leader(self) -> EtcdMember | None:
        ids: dict[str, EtcdMember] = {}
        leader = None
        for m in self.etcd:
            st = m.status()
            if st:
                ids[str(st["header"]["member_id"])] = m
                leader = str(st.get("leader"))
        return ids.get(leader or "")

    def leader(self, which: str) -> Service | None:
        name = "minik8s-scheduler" if which == "scheduler" else "minik8s-controller-manager"
        procs = self.schedulers if which == "scheduler" else self.cms
        try:
            with httpx.Client(timeout=2) as c:
                lease = c.get(f"{self.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/"
                              f"leases/{name}").json()
        except (httpx.HTTPError, ValueError):
            return None
        holder = (lease.get("spec") or {}).get("holderIdentity")
        return next((p for p in procs if p.identity == holder and p.alive()), None)

    def target(self, kind: str) -> Restartable:
        if kind == "etcd-leader":
            leader = self.etcd_leader()
            assert leader is not None, "no etcd leader"
            return leader
        if kind == "etcd-member":
            leader = self.etcd_leader()
            return next(m for m in self.etcd if m is not leader)
        if kind == "apiserver":
            return self.apiservers[0]
        if kind in ("scheduler-leader", "cm-leader"):
            svc = self.leader("scheduler" if kind == "scheduler-leader" else "cm")
            assert svc is not None, f"no {kind}"
            return svc
        if kind == "kubelet":
            return self.kubelets[-1]
        if kind == "proxy":
            assert self.proxy is not None, "no proxy in this cluster"
            return self.proxy
        raise ValueError(kind)


def inject(fault: str, proc: Restartable, stop_seconds: float = STOP_SECONDS) -> None:
    """Apply ``fault`` to ``proc`` and return once it is over (the process running again)."""
    proc.held = True
    try:
        _inject(fault, proc, stop_seconds)
    finally:
        proc.held = False


def _inject(fault: str, proc: Restartable, stop_seconds: float) -> None:
    if fault == "kill9":
        proc.signal(signal.SIGKILL)
        proc.wait_exit(10)
        time.sleep(RESTART_DELAY)  # a supervisor's restart delay
        proc.start()
    elif fault == "stop15":
        proc.signal(signal.SIGSTOP)
        time.sleep(stop_seconds)
        proc.signal(signal.SIGCONT)
    elif fault == "restart":
        proc.signal(signal.SIGTERM)
        proc.wait_exit(20)
        proc.start()
    else:
        raise ValueError(fault)


class FaultThread(threading.Thread):
    """``inject`` in the background, after ``delay`` seconds, on each target at once."""

    def __init__(self, fault: str, procs: list[Restartable], delay: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.fault = fault
        self.procs = procs
        self.delay = delay
        self.started_at = 0.0
        self.ended_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        time.sleep(self.delay)
        self.started_at = time.monotonic()
        try:
            threads = [threading.Thread(target=inject, args=(self.fault, p), daemon=True)
                       for p in self.procs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        except BaseException as exc:
            self.error = exc
        self.ended_at = time.monotonic()


# ---------------------------------------------------------------------------- the checks


class NodeNameWatch(threading.Thread):
    """Every nodeName each pod of ``ns`` (by uid) is seen with, from a watch through the
    balancer that resumes from its last resourceVersion after a broken stream and lists
    again after a 410: a pod's nodeName must never change once set."""

    def __init__(self, url: str, ns: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ns = ns
        self.seen: dict[str, set[str]] = {}
        self.names: dict[str, str] = {}
        self.relists = 0
        self.listed = threading.Event()
        self._halt = threading.Event()

    def note(self, pod: dict[str, Any]) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            uid = pod["metadata"]["uid"]
            self.seen.setdefault(uid, set()).add(node)
            self.names[uid] = pod["metadata"]["name"]

    def run(self) -> None:
        path = f"/api/v1/namespaces/{self.ns}/pods"
        rv = ""
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(5.0, read=15.0)) as c:
            while not self._halt.is_set():
                try:
                    if not rv:
                        out = c.get(path).json()
                        for p in out.get("items") or []:
                            self.note(p)
                        rv = out["metadata"]["resourceVersion"]
                        self.relists += 1
                        self.listed.set()
                    with c.stream("GET", path, params={
                            "watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                            "timeoutSeconds": "3"}) as r:
                        for line in r.iter_lines():
                            if self._halt.is_set():
                                return
                            if not line:
                                continue
                            ev = json.loads(line)
                            obj = ev.get("object") or {}
                            if ev.get("type") == "ERROR":
                                if obj.get("code") == 410:
                                    rv = ""
                                break
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if ev.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                                self.note(obj)
                except (httpx.HTTPError, ValueError, KeyError):
                    self._halt.wait(0.2)

    def stop(self) -> None:
        self._halt.set()
        self.join(20)

    def moved(self) -> list[str]:
        return [f"pod {self.names[uid]} ({uid}) seen on {sorted(nodes)}"
                for uid, nodes in self.seen.items() if len(nodes) > 1]


class AckWriter(threading.Thread):
    """Creates ConfigMaps in ``ns`` one after another (through the balancer) and records
    each acknowledged one (201) with its uid; runs until ``stop``."""

    def __init__(self, url: str, ns: str, interval: float = 0.1, limit: int = 2000) -> None:
        super().__init__(daemon=True)
        self.api = Api(url, timeout=2.0)
        self.ns = ns
        self.interval = interval
        self.limit = limit
        self.acked: dict[str, str] = {}
        self.unanswered = 0
        self._halt = threading.Event()

    def run(self) -> None:
        for i in range(self.limit):
            if self._halt.is_set():
                break
            name = f"ack-{i}"
            code, out = self.api.call_once(
                "POST", f"/api/v1/namespaces/{self.ns}/configmaps",
                {"metadata": {"name": name}, "data": {"i": str(i)}})
            if code == 201:
                self.acked[name] = out["metadata"]["uid"]
            elif code == 0:
                self.unanswered += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        self.api.close()


def audit_bindings(paths: list[Path]) -> dict[tuple[str, str, str], list[tuple[str, str]]]:
    """(namespace, pod, pod uid) -> (audit ID, node) of each successful binding, from the
    API servers' audit logs (the Binding is logged at the Request level: its uid and target)."""
    out: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    for p in paths:
        try:
            lines = p.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ref = ev.get("objectRef") or {}
            code = (ev.get("responseStatus") or {}).get("code", 0)
            if ref.get("subresource") != "binding" or ev.get("stage") != "ResponseComplete" \
                    or not 200 <= code < 300:
                continue
            body = ev.get("requestObject") or {}
            uid = (body.get("metadata") or {}).get("uid", "")
            node = (body.get("target") or {}).get("name", "")
            out.setdefault((ref.get("namespace", ""), ref.get("name", ""), uid), set()).add(
                (ev.get("auditID", ""), node))
    return {k: sorted(v) for k, v in out.items()}


def docker_client() -> Any:
    import docker  # type: ignore[import-not-found,unused-ignore]

    return docker.from_env()


def cleanup_containers(node: str) -> None:
    try:
        d = docker_client()
    except Exception:
        return
    try:
        for c in d.containers.list(all=True, filters={"label": f"minik8s.node={node}"}):
            try:
                c.remove(force=True)
            except Exception:
                pass
    finally:
        d.close()


@dataclass
class Checker:
    """The invariants of one namespace after a run; each method returns a list of
    problems (empty: passed)."""

    url: str
    ns: str
    audit_logs: list[Path] = field(default_factory=list)
    docker_node: str = ""
    netns: str = ""
    acked: dict[str, str] = field(default_factory=dict)
    results: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api = Api(self.url)
        self.bound = 0
        self.rules = 0

    def facts(self) -> str:
        """What the checks saw: acknowledged writes, pods bound, Services with rules."""
        return f"acks {len(self.acked)}, bound {self.bound}" + \
            (f", services in rules {self.rules}" if self.netns else "")

    @classmethod
    def of(cls, cluster: HACluster, ns: str) -> Checker:
        return cls(cluster.url, ns, [a.audit_log for a in cluster.apiservers],
                   cluster.docker_node, cluster.proxy_netns or "")

    def close(self) -> None:
        self.api.close()

    def acks(self) -> list[str]:
        have = {c["metadata"]["name"]: c["metadata"]["uid"]
                for c in self.api.items(f"/api/v1/namespaces/{self.ns}/configmaps")}
        return [f"acknowledged ConfigMap {n} ({uid}) is {'missing' if n not in have else 'replaced'}"
                for n, uid in self.acked.items() if have.get(n) != uid]

    def pods(self) -> list[dict[str, Any]]:
        return self.api.items(f"/api/v1/namespaces/{self.ns}/pods")

    @staticmethod
    def live(p: dict[str, Any]) -> bool:
        return not p["metadata"].get("deletionTimestamp") and \
            (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")

    @staticmethod
    def controller(obj: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in obj["metadata"].get("ownerReferences") or []
                     if r.get("controller")), None)

    def slots(self) -> list[str]:
        """Live pods per ReplicaSet == its replicas; StatefulSet pods are ordinals 0..n-1,
        one each."""
        problems = []
        pods = self.pods()
        for rs in self.api.items(f"/apis/apps/v1/namespaces/{self.ns}/replicasets"):
            want = rs["spec"].get("replicas", 1)
            uid = rs["metadata"]["uid"]
            have = [p for p in pods if self.live(p) and (self.controller(p) or {}).get("uid") == uid]
            if len(have) != want:
                problems.append(f"ReplicaSet {rs['metadata']['name']}: {len(have)} live pods "
                                f"for {want} replicas")
        for ss in self.api.items(f"/apis/apps/v1/namespaces/{self.ns}/statefulsets"):
            name, want = ss["metadata"]["name"], ss["spec"].get("replicas", 1)
            uid = ss["metadata"]["uid"]
            ordinals = sorted(p["metadata"]["name"] for p in pods
                              if (self.controller(p) or {}).get("uid") == uid and self.live(p))
            if ordinals != sorted(f"{name}-{i}" for i in range(want)):
                problems.append(f"StatefulSet {name}: pods {ordinals} for {want} ordinals")
        return problems

    def bindings(self) -> list[str]:
        """No pod bound twice (two successful bindings of one pod uid in the audit logs),
        and every bound pod still on the node of its binding."""
        problems = []
        bound = audit_bindings(self.audit_logs)
        pods = {(p["metadata"]["name"], p["metadata"]["uid"]): p for p in self.pods()}
        for (ns, name, uid), binds in bound.items():
            if ns != self.ns:
                continue
            if len(binds) > 1:
                problems.append(f"pod {name} ({uid}) bound {len(binds)} times: {binds}")
            pod = pods.get((name, uid))
            if pod is not None and pod["spec"].get("nodeName") != binds[0][1]:
                problems.append(f"pod {name} bound to {binds[0][1]} runs on "
                                f"{pod['spec'].get('nodeName')}")
        self.bound = sum(1 for k in bound if k[0] == self.ns)
        return problems

    def leaks(self) -> list[str]:
        """No container on the Docker node of a pod that no longer exists."""
        if not self.docker_node:
            return []
        uids = {p["metadata"]["uid"] for p in self.api.items("/api/v1/pods")}
        d = docker_client()
        try:
            cs = d.containers.list(all=True, filters={
                "label": f"minik8s.node={self.docker_node}"})
            return [f"container {c.name} of gone pod "
                    f"{c.labels.get('io.kubernetes.pod.name')} ({c.status})"
                    for c in cs if c.labels.get("io.kubernetes.pod.uid") not in uids]
        finally:
            d.close()

    def service_rules(self) -> set[tuple[str, str]]:
        """(namespace, Service) of every rule of the proxy's nat table (by its comment)."""
        out = subprocess.run(["ip", "netns", "exec", self.netns, "iptables-save", "-t", "nat"],
                             check=True, capture_output=True, text=True).stdout
        return {(m.group(1), m.group(2)) for m in SERVICE_COMMENT.finditer(out)}

    def iptables(self) -> list[str]:
        """No rule left for a Service that is gone, and one for each Service of the
        namespace that has ready endpoints (when a proxy runs)."""
        if not self.netns:
            return []
        rules = self.service_rules()
        self.rules = sum(1 for ns, _ in rules if ns == self.ns)
        have = {(s["metadata"]["namespace"], s["metadata"]["name"])
                for s in self.api.items("/api/v1/services")}
        problems = [f"iptables rules left for Service {ns}/{name}, which is gone"
                    for ns, name in sorted(rules - have)]
        for sl in self.api.items(f"/apis/discovery.k8s.io/v1/namespaces/{self.ns}/endpointslices"):
            svc = (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
            ready = any((e.get("conditions") or {}).get("ready") for e in sl.get("endpoints") or [])
            if ready and (self.ns, svc) in have and (self.ns, svc) not in rules:
                problems.append(f"no iptables rule for Service {self.ns}/{svc} (ready endpoints)")
        return problems

    def orphans(self) -> list[str]:
        """No pod, ReplicaSet or ControllerRevision whose owner is gone."""
        owners = set()
        for path in (f"/apis/apps/v1/namespaces/{self.ns}/deployments",
                     f"/apis/apps/v1/namespaces/{self.ns}/replicasets",
                     f"/apis/apps/v1/namespaces/{self.ns}/statefulsets",
                     f"/apis/batch/v1/namespaces/{self.ns}/jobs"):
            owners |= {o["metadata"]["uid"] for o in self.api.items(path)}
        problems = []
        for path in (f"/api/v1/namespaces/{self.ns}/pods",
                     f"/apis/apps/v1/namespaces/{self.ns}/replicasets"):
            for o in self.api.items(path):
                for ref in o["metadata"].get("ownerReferences") or []:
                    if ref["uid"] not in owners:
                        problems.append(f"{o['kind'] if 'kind' in o else path.rsplit('/', 1)[-1]} "
                                        f"{o['metadata']['name']}: owner {ref['kind']} "
                                        f"{ref['name']} is gone")
        return problems

    def run(self) -> dict[str, list[str]]:
        """Every check; the eventual ones (containers, orphans) waited for (bounded)."""
        self.results = {"acks": self.acks(), "slots": self.slots(),
                        "bindings": self.bindings()}
        for name, fn in (("leaks", self.leaks), ("orphans", self.orphans),
                         ("iptables", self.iptables)):
            last: list[str] = []

            def ok(fn: Callable[[], list[str]] = fn, last: list[str] = last) -> bool:
                last[:] = fn()
                return not last
            try:
                wait_for(ok, timeout=30, interval=0.5, message=name)
            except AssertionError:
                pass
            self.results[name] = last
        return self.results


# ---------------------------------------------------------------------------- the report


@dataclass
class Row:
    fault: str
    target: str
    scenario: str
    converge_s: float
    checks: dict[str, list[str]]
    facts: str = ""

    @property
    def passed(self) -> bool:
        return not any(self.checks.values())


def table(rows: list[Row]) -> str:
    head = f"{'fault':<8} {'target':<36} {'scenario':<9} {'converge':>9}  checks"
    lines = [head, "-" * len(head)]
    for r in rows:
        n = sum(1 for v in r.checks.values() if not v)
        failed = [k for k, v in r.checks.items() if v]
        lines.append(f"{r.fault:<8} {r.target:<36} {r.scenario:<9} {r.converge_s:>8.1f}s  "
                     f"{n}/{len(r.checks)} passed" + (f" (failed: {', '.join(failed)})"
                                                      if failed else "")
                     + (f"  [{r.facts}]" if r.facts else ""))
    return "\n".join(lines)


__all__ = ["FAULTS", "LOG_DIR", "TARGETS", "AckWriter", "Api", "Checker", "FaultThread",
           "HACluster", "Row", "inject", "table"]


if __name__ == "__main__":
    main()
