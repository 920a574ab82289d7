"""Real nodes against the shared-Docker mode, in the same run; prints one JSON document.

Runs on the cluster of real nodes that `deploy/up.sh --real-nodes --nodes 3` brings up (the
one tests/e2e_nodes uses: compose project minik8s-nodes, its admin kubeconfig in
~/.minik8s-nodes; --project and --kubeconfig for another):

- startup: pod create -> phase Running seen by a watcher, one pod at a time, alternating
  between node-1 (a node container: its containerd through CRI, its CNI bridge) and a
  kubelet on the host's Docker (the shared-Docker mode's runtime) that this benchmark
  registers on the same API server for the run (node bench-docker, tainted NoSchedule, its
  pods placed by nodeName): the same control plane, only the node differs. Goal: real <=
  1.3x shared-Docker (``ratio_p50``).
- network: pod-to-pod TCP throughput (one stream of --bytes) and latency (--pings 1-byte
  round trips) from a pod on node-1 to a pod on node-2 (across nodes: the nodes' network and
  the host-gw routes) against a pod on node-2 to the same server (within one node: the CNI
  bridge), alternating, --repeats times. Sender and receiver are python3 run in the pods'
  network namespaces from their node (nsenter -n). Goal: across >= 0.8x within
  (``ratio_throughput``).
- bringup (with --bringup): `docker compose down` of the whole cluster (volumes kept: images
  already imported, warm), then `up -d`, until the 3 nodes are Ready. Goal: <= 30 s.

Usage: python bench/nodes.py [--pods 10] [--bytes 64M] [--pings 500] [--repeats 3] [--bringup]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.models import Node, Pod  # noqa: E402
from bench.kubelet import NS, Watcher, delete_all, summary  # noqa: E402
from bench.stats import pct  # noqa: E402
from client.config import kubeconfig_config  # noqa: E402
from client.rest import AsyncClient  # noqa: E402
from testing.support import Process, free_port, service  # noqa: E402

IMAGE = "minik8s/busybox:latest"
APP_CMD = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
DOCKER_NODE = "bench-docker"
PORT = 5201

# Run in the server pod's network namespace: a sink (reads until EOF, answers the byte count)
# and an echo, each connection on a thread; exits after `limit` seconds.
SERVER = r"""
import socket, sys, threading, time
limit = float(sys.argv[1])
def sink(c):
    n = 0
    while (b := c.recv(1 << 20)):
        n += len(b)
    c.sendall(str(n).encode()); c.close()
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (b := c.recv(64)):
        c.sendall(b)
    c.close()
def serve(port, fn):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); threading.Thread(target=fn, args=(c,), daemon=True).start()
threading.Thread(target=serve, args=(SINK_PORT, sink), daemon=True).start()
threading.Thread(target=serve, args=(ECHO_PORT, echo), daemon=True).start()
time.sleep(limit)
""".replace("SINK_PORT", str(PORT)).replace("ECHO_PORT", str(PORT + 1))

CLIENT = r"""
import json, socket, sys, time
ip, nbytes, pings = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = b"x" * (1 << 16)
s = socket.create_connection((ip, SINK_PORT), timeout=30)
t0 = time.monotonic(); sent = 0
while sent < nbytes:
    sent += s.send(buf[: min(len(buf), nbytes - sent)])
s.shutdown(socket.SHUT_WR)
got = int(s.recv(64)); dt = time.monotonic() - t0; s.close()
e = socket.create_connection((ip, ECHO_PORT), timeout=30)
e.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(pings):
    t = time.monotonic(); e.sendall(b"p")
    if not e.recv(64): break
    rtts.append(time.monotonic() - t)
e.close()
print(json.dumps({"bytes": got, "seconds": dt, "rtts": rtts}))
""".replace("SINK_PORT", str(PORT)).replace("ECHO_PORT", str(PORT + 1))


def sh(*argv: str, timeout: float = 120, check: bool = True,
       env: dict[str, str] | None = None) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


def pod(name: str, node: str) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench-nodes"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": APP_CMD}]}})


def parse_bytes(v: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(v[-1:].upper(), 1)
    return int(float(v.rstrip("KMGkmg")) * mult)


async def node_ready(client: AsyncClient, node: str, since: float = 0) -> bool:
    """Ready, and (with ``since``, a wall-clock time) heard from since then: a Node keeps
    its last Ready status for the grace period after its kubelet is gone."""
    try:
        n = await client.get(Node, node)
    except Exception:
        return False
    for c in (n.status.conditions if n.status else None) or []:
        if c.type == "Ready" and c.status == "True":
            beat = c.last_heartbeat_time
            return not since or (beat is not None and _epoch(beat) >= int(since))
    return False


def _epoch(t: Any) -> float:
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return float(t.timestamp())


async def wait_ready(client: AsyncClient, nodes: list[str], timeout: float,
                     proc: Process | None = None, since: float = 0) -> None:
    deadline = time.monotonic() + timeout
    while not all([await node_ready(client, n, since) for n in nodes]):
        if time.monotonic() > deadline:
            tail = proc.log_tail() if proc else ""
            raise RuntimeError(f"{nodes} not Ready within {timeout:.0f} s\n{tail}")
        await asyncio.sleep(0.2)


async def startup(client: AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    root = tempfile.mkdtemp(prefix="bench-nodes-")
    port = free_port()
    kubelet = service(f"bench-{DOCKER_NODE}", "kubelet", [
        "--kubeconfig", str(args.kubeconfig), "--node-name", DOCKER_NODE, "--runtime", "docker",
        "--port", str(port), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
        "--root-dir", root, "--healthz-port", "0"])
    try:
        await wait_ready(client, [DOCKER_NODE], 90, kubelet)
        # nothing but this benchmark's pods (placed by nodeName) goes there
        sh(str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(args.kubeconfig),
           "taint", "node", DOCKER_NODE, "minik8s.io/bench=only:NoSchedule", "--overwrite")
        watchers = {n: Watcher(client, n) for n in (args.real_node, DOCKER_NODE)}
        for w in watchers.values():
            await w.start()
        lat: dict[str, list[float]] = {n: [] for n in watchers}
        for i in range(args.pods):
            for node, w in watchers.items():
                name = f"bn-{i}-{uuid.uuid4().hex[:8]}"
                t0 = time.monotonic()
                await client.create(pod(name, node))
                lat[node].append(await w.wait(name, 120) - t0)
        for w in watchers.values():
            w.stop()
        real, docker = summary(lat[args.real_node]), summary(lat[DOCKER_NODE])
        return {"real_node": real, "shared_docker": docker,
                "ratio_p50": round(real["p50_s"] / docker["p50_s"], 2) if docker["p50_s"] else None,
                "goal_ratio_max": 1.3}
    finally:
        await delete_all(client, args.real_node)
        await delete_all(client, DOCKER_NODE)
        kubelet.stop()
        try:
            await client.delete(Node, DOCKER_NODE)
        except Exception:
            pass


def pod_pid(container: str, cid: str) -> str:
    for line in sh("docker", "exec", container, "ctr", "-n", "k8s.io", "tasks", "ls").splitlines():
        f = line.split()
        if f and f[0] == cid:
            return f[1]
    raise RuntimeError(f"no task {cid} in {container}")


async def network(client: AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    names = {"server": "node-2", "across": "node-1", "within": "node-2"}
    pods = {k: f"bnet-{k}-{uuid.uuid4().hex[:6]}" for k in names}
    watchers = {n: Watcher(client, n) for n in set(names.values())}
    for w in watchers.values():
        await w.start()
    try:
        for k, node in names.items():
            await client.create(pod(pods[k], node))
        for k, node in names.items():
            await watchers[node].wait(pods[k], 120)
        where: dict[str, tuple[str, str, str]] = {}
        for k, node in names.items():
            p = await client.get(Pod, pods[k], NS)
            st = p.status
            assert st is not None and st.container_statuses and st.pod_ip
            cid = (st.container_statuses[0].container_id or "").removeprefix("containerd://")
            container = f"{args.project}-{node}"
            where[k] = (container, pod_pid(container, cid), st.pod_ip)
        limit = 60 + args.repeats * 60
        srv_container, srv_pid, srv_ip = where["server"]
        server = await asyncio.create_subprocess_exec(
            "docker", "exec", srv_container, "nsenter", "-t", srv_pid, "-n", "python3", "-c",
            SERVER, str(limit), "bench-nodes-server", stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            runs: dict[str, list[dict[str, Any]]] = {"across": [], "within": []}
            deadline = time.monotonic() + 20
            for rep in range(args.repeats):
                for k in ("across", "within"):
                    container, pid, _ = where[k]
                    while True:
                        try:
                            out = sh("docker", "exec", container, "nsenter", "-t", pid, "-n",
                                     "python3", "-c", CLIENT, srv_ip, str(args.bytes),
                                     str(args.pings), timeout=120)
                            break
                        except RuntimeError:
                            # the server may still be starting (first run only)
                            if rep or runs[k] or time.monotonic() > deadline:
                                raise
                            await asyncio.sleep(0.5)
                    runs[k].append(json.loads(out))
        finally:
            # the server ends by itself after `limit`; ending docker exec does not stop it
            server.kill()
            await asyncio.wait_for(server.wait(), 10)
            sh("docker", "exec", srv_container, "pkill", "-f", "bench-nodes-server", check=False)
        res: dict[str, Any] = {}
        for k, rs in runs.items():
            mbps = [r["bytes"] / r["seconds"] / 1e6 for r in rs]
            rtts = [x for r in rs for x in r["rtts"]]
            res[k] = {"throughput_MBps": [round(x, 1) for x in mbps],
                      "throughput_MBps_median": round(pct(mbps, 50), 1),
                      "rtt_p50_ms": round(pct(rtts, 50) * 1000, 3),
                      "rtt_p99_ms": round(pct(rtts, 99) * 1000, 3)}
        res["ratio_throughput"] = round(res["across"]["throughput_MBps_median"]
                                        / res["within"]["throughput_MBps_median"], 2)
        res["ratio_rtt_p50"] = round(res["across"]["rtt_p50_ms"] / res["within"]["rtt_p50_ms"], 2)
        res["goal_ratio_throughput_min"] = 0.8
        return res
    finally:
        for w in watchers.values():
            w.stop()
        for n in set(names.values()):
            await delete_all(client, n)


async def bringup(client: AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    # the compose environment up.sh had: the project, its API port (the kubeconfig's), the
    # dashboard's port as tests/e2e_nodes sets it, the overlay for 3 nodes of this project
    port = urlparse(client.config.server).port or 6443
    env = {**os.environ, "COMPOSE_PROJECT_NAME": args.project, "MINIK8S_API_PORT": str(port)}
    if args.project != "minik8s":
        env.setdefault("MINIK8S_DASHBOARD_PORT", str(port + 47))
    overlay = Path(tempfile.mkdtemp(prefix="bench-nodes-")) / "real-nodes.yml"
    overlay.write_text(sh("bash", str(ROOT / "deploy/images/node/compose.sh"), "3", env=env))
    compose = ["docker", "compose", "--project-directory", str(ROOT), "-p", args.project,
               "-f", str(ROOT / "docker-compose.yml"), "-f", str(overlay)]
    await asyncio.to_thread(subprocess.run, [*compose, "down"], check=True,
                            capture_output=True, env=env, timeout=300)
    t0, wall0 = time.monotonic(), time.time()
    await asyncio.to_thread(subprocess.run, [*compose, "up", "-d"], check=True,
                            capture_output=True, env=env, timeout=300)
    up = time.monotonic() - t0
    await wait_ready(client, ["node-1", "node-2", "node-3"], 300, since=wall0)
    total = time.monotonic() - t0
    return {"compose_up_s": round(up, 1), "nodes_ready_s": round(total, 1), "goal_s_max": 30}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    client = AsyncClient(config=kubeconfig_config(args.kubeconfig))
    out: dict[str, Any] = {"benchmark": "nodes", "load_before": os.getloadavg()[0]}
    try:
        await wait_ready(client, ["node-1", "node-2", "node-3"], 60)
        out["startup"] = await startup(client, args)
        out["network"] = await network(client, args)
        if args.bringup:
            out["bringup"] = await bringup(client, args)
    finally:
        await client.close()
    out["load_after"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", type=Path,
                    default=Path.home() / ".minik8s-nodes" / "admin.conf")
    ap.add_argument("--project", default="minik8s-nodes")
    ap.add_argument("--real-node", default="node-1")
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--bytes", type=parse_bytes, default=parse_bytes("64M"))
    ap.add_argument("--pings", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bringup", action="store_true")
    args = ap.parse_args(argv)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds like ^C: the kubelet started here is stopped
    signal.signal(signal.SIGTERM, terminate)
    res = asyncio.run(main_async(args))
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
