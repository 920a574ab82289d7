"""Simulated nodes for the network agent's tests: network namespaces this module creates
and removes, nothing else.

``mk8s-nt-h`` stands in for the Docker host: the test bridge ``mk8snt0`` (10.250.0.1/24)
lives there, so bridged node-to-node traffic crosses ITS FORWARD chain, never the real
host's; ``mk8s-nt-x`` behind the host's default route stands for the world outside the
machine (it counts what reaches it). Each node ``mk8s-nt-<n>`` has ``eth0`` (10.250.0.1<n>/24) on that bridge and a
default route via 10.250.0.1, so that a packet the guard missed would have a default route
to take (and the tests count what arrives there). A "pod" is a namespace ``mk8s-nt-<n><x>``
wired by the real CNI plugins (/usr/lib/cni) from the agent's conflist, called with the CNI
environment as a runtime would (Debian ships no cnitool).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PREFIX = "mk8s-nt-"
HOST_NS = PREFIX + "h"
OUTSIDE_NS = PREFIX + "x"
BRIDGE = "mk8snt0"
HOST_IP = "10.250.0.1"
CNI_PATH = "/usr/lib/cni"
CLUSTER = "10.251.0.0/16"
# iputils' ping, else busybox's (busybox-static is what CI installs)
PING = ([p] if (p := shutil.which("ping")) else
        [b, "ping"] if (b := shutil.which("busybox")) else [])


def sh(*argv: str, check: bool = True, timeout: float = 20, stdin: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def in_ns(ns: str, *argv: str, check: bool = True, timeout: float = 20
          ) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def usable() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not PING:
        return "neither ping nor busybox is installed"
    for tool in ("ip", "iptables", "iptables-save", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path(CNI_PATH, "bridge").exists():
        return "the CNI plugins are not installed (apt-get install containernetworking-plugins)"
    return None


def ours() -> list[str]:
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.split() and line.split()[0].startswith(PREFIX)]


def remove_all() -> None:
    for ns in ours():
        sh("ip", "netns", "del", ns, check=False)


def node_ns(n: int) -> str:
    return f"{PREFIX}{n}"


def node_ip(n: int) -> str:
    return f"10.250.0.{10 + n}"


def make_host() -> None:
    sh("ip", "netns", "add", HOST_NS)
    in_ns(HOST_NS, "ip", "link", "set", "lo", "up")
    in_ns(HOST_NS, "ip", "link", "add", BRIDGE, "type", "bridge")
    in_ns(HOST_NS, "ip", "addr", "add", f"{HOST_IP}/24", "dev", BRIDGE)
    in_ns(HOST_NS, "ip", "link", "set", BRIDGE, "up")
    # bridged frames through the namespace's iptables, as on the Docker host
    in_ns(HOST_NS, "sh", "-c", "f=/proc/sys/net/bridge/bridge-nf-call-iptables; "
          "[ -w $f ] && echo 1 > $f || true")
    # count what a node routes to the "host" for the cluster CIDR (a leak would land here;
    # bridged node-to-node frames pass FORWARD too, but out through the bridge again)
    in_ns(HOST_NS, "iptables", "-t", "mangle", "-A", "FORWARD", "-d", CLUSTER, "!", "-o",
          BRIDGE, "-j", "ACCEPT")
    in_ns(HOST_NS, "iptables", "-t", "mangle", "-A", "INPUT", "-d", CLUSTER, "-j", "ACCEPT")
    # the world outside the "machine": the host's default route leads there
    sh("ip", "netns", "add", OUTSIDE_NS)
    in_ns(OUTSIDE_NS, "ip", "link", "set", "lo", "up")
    in_ns(HOST_NS, "ip", "link", "add", "mk8snt-out", "type", "veth", "peer", "name", "eth0",
          "netns", OUTSIDE_NS)
    in_ns(HOST_NS, "ip", "addr", "add", "10.250.1.1/24", "dev", "mk8snt-out")
    in_ns(HOST_NS, "ip", "link", "set", "mk8snt-out", "up")
    in_ns(OUTSIDE_NS, "ip", "addr", "add", "10.250.1.2/24", "dev", "eth0")
    in_ns(OUTSIDE_NS, "ip", "link", "set", "eth0", "up")
    in_ns(HOST_NS, "ip", "route", "add", "default", "via", "10.250.1.2")
    in_ns(HOST_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    in_ns(OUTSIDE_NS, "iptables", "-t", "raw", "-A", "PREROUTING", "-s", CLUSTER, "-j",
          "ACCEPT")
    in_ns(OUTSIDE_NS, "iptables", "-t", "raw", "-A", "PREROUTING", "-d", CLUSTER, "-j",
          "ACCEPT")


def _count(ns: str, match: str, table: str = "raw") -> int:
    out = in_ns(ns, "iptables-save", "-c", "-t", table).stdout
    total, found = 0, False
    for line in out.splitlines():
        if line.startswith("[") and line.split("] ", 1)[-1].startswith(match):
            total += int(line[1:].split(":")[0])
            found = True
    assert found, f"the counting rules of {ns} are gone"
    return total


def host_leak_count() -> int:
    """Packets for the cluster CIDR that reached the "host" (a node's default route)."""
    return _count(HOST_NS, f"-A FORWARD -d {CLUSTER} ", "mangle") + \
        _count(HOST_NS, f"-A INPUT -d {CLUSTER} ", "mangle")


def outside_count() -> int:
    """Packets to or from the cluster CIDR that reached the outside (left the machine)."""
    return _count(OUTSIDE_NS, "-A PREROUTING ")


def make_node(n: int) -> None:
    ns = node_ns(n)
    sh("ip", "netns", "add", ns)
    in_ns(ns, "ip", "link", "set", "lo", "up")
    host_end = f"mk8snt-v{n}"
    in_ns(HOST_NS, "ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
          "netns", ns)
    in_ns(HOST_NS, "ip", "link", "set", host_end, "master", BRIDGE, "up")
    in_ns(ns, "ip", "addr", "add", f"{node_ip(n)}/24", "dev", "eth0")
    in_ns(ns, "ip", "link", "set", "eth0", "up")
    in_ns(ns, "ip", "route", "add", "default", "via", HOST_IP)
    in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")


# ---- a CNI "runtime" ------------------------------------------------------------------

def _call(node: str, plugin: dict[str, Any], conf: dict[str, Any], command: str,
          pod_ns: str, cid: str, prev: dict[str, Any] | None,
          ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    netconf = {**plugin, "cniVersion": conf["cniVersion"], "name": conf["name"]}
    if prev is not None:
        netconf["prevResult"] = prev
    if plugin.get("capabilities", {}).get("portMappings"):
        netconf["runtimeConfig"] = {"portMappings": ports or []}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid,
           "CNI_NETNS": f"/var/run/netns/{pod_ns}", "CNI_IFNAME": "eth0",
           "CNI_PATH": CNI_PATH}
    argv = ["ip", "netns", "exec", node, "env", *(f"{k}={v}" for k, v in env.items()),
            f"{CNI_PATH}/{plugin['type']}"]
    r = sh(*argv, stdin=json.dumps(netconf), check=False)
    if r.returncode != 0:
        raise AssertionError(f"CNI {command} {plugin['type']}: {r.stdout} {r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else {}


def cni_add(n: int, pod: str, conflist: Path,
            ports: list[dict[str, Any]] | None = None) -> str:
    """Create pod namespace ``pod`` and wire it with the node's conflist (``ports``: the
    runtime's portMappings, hostPort); its IP."""
    sh("ip", "netns", "add", pod)
    conf = json.loads(conflist.read_text())
    prev: dict[str, Any] | None = None
    for plugin in conf["plugins"]:
        prev = _call(node_ns(n), plugin, conf, "ADD", pod, pod, prev, ports)
    assert prev is not None
    in_ns(pod, "ip", "link", "set", "lo", "up")
    return str(prev["ips"][0]["address"]).split("/")[0]


def cni_del(n: int, pod: str, conflist: Path,
            ports: list[dict[str, Any]] | None = None) -> None:
    conf = json.loads(conflist.read_text())
    for plugin in reversed(conf["plugins"]):
        _call(node_ns(n), plugin, conf, "DEL", pod, pod, None, ports)
    sh("ip", "netns", "del", pod, check=False)


def ping(ns: str, ip: str, count: int = 1, wait: int = 1) -> subprocess.CompletedProcess[str]:
    return in_ns(ns, *PING, "-c", str(count), "-W", str(wait), ip, check=False,
                 timeout=count * wait + 5)


CONNECT = """
import socket, sys, time
s = socket.socket()
s.settimeout(float(sys.argv[3]))
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected", time.monotonic() - t0)
except OSError as e:
    print(type(e).__name__, time.monotonic() - t0, e)
"""


def connect(ns: str, ip: str, port: int = 80, timeout: float = 3.0) -> tuple[str, float]:
    """A TCP connect from ``ns``: (the outcome, seconds): 'connected', or the error's
    class (ConnectionRefusedError for a REJECT, OSError for no route, TimeoutError)."""
    r = in_ns(ns, sys.executable, "-c", CONNECT, ip, str(port), str(timeout),
              timeout=timeout + 10)
    what, secs = r.stdout.split()[:2]
    return what, float(secs)


SERVE_ONCE = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
s.settimeout(float(sys.argv[2]))
c, _ = s.accept()
c.sendall(b"hello from the pod")
c.close()
"""

FETCH = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.recv(100).decode())
"""


def serve_once(ns: str, port: int, timeout: float = 20) -> subprocess.Popen[str]:
    """A one-connection TCP server in ``ns`` (a pod's process), started in the background."""
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVE_ONCE,
                             str(port), str(timeout)], text=True)


def fetch(ns: str, ip: str, port: int) -> str:
    r = in_ns(ns, sys.executable, "-c", FETCH, ip, str(port), check=False, timeout=15)
    return r.stdout.strip() or r.stderr.strip()
