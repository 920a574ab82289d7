"""A private containerd with its CRI plugin and a CNI bridge network, for tests and benchmarks.

It runs beside (never instead of) the containerd that Docker uses: its own root, state,
socket and CNI config under one temp directory, cgroupfs, the overlayfs snapshotter, the
sandbox image minik8s/pause:3.9, the Debian CNI plugins (/usr/lib/cni) on a bridge of its
own. Images come from the local Docker (``docker save | ctr images import``): no
registry is ever contacted, because docker.io's only host is a closed local port
(hosts.toml ``server``), so a missing image fails at once with containerd's message.

``stop()`` runs the owner's ``before_stop`` hooks (removing every pod through the CRI, so
that the CNI plugins release their addresses and portmap its iptables rules), then ends containerd and the shims it started,
unmounts what is left under its root, deletes the bridge and the portmap chains it leaves
empty, and removes the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BRIDGE = "mk8scri0"
# Outside the cluster CIDR (10.244.0.0/16) on purpose: the pod network's leak guard on the
# host (the network agent's MINIK8S-PODNET-HOST chain) rejects host traffic to 10.244/16
# that is not between a node bridge's own ports, which would cut the host (probes,
# hostPort's DNAT from loopback) off a private bridge inside that range.
SUBNET = "10.254.254.0/24"
NETWORK_NAME = "mk8s-cri-test"
PAUSE_IMAGE = "minik8s/pause:3.9"
CNI_BIN = "/usr/lib/cni"
PORTMAP_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ",
                  "CNI-HOSTPORT-SETMARK")


def missing() -> str:
    """Why a private containerd cannot run here ("" when it can)."""
    for binary in ("containerd", "ctr", "runc", "containerd-shim-runc-v2", "docker", "ip",
                   "iptables"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed (apt-get install containerd runc iproute2)"
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not os.path.exists(os.path.join(CNI_BIN, plugin)):
            return (f"CNI plugin {CNI_BIN}/{plugin} is missing "
                    "(apt-get install containernetworking-plugins)")
    if os.geteuid() != 0:
        return "containerd needs root"
    return ""


def cni_conflist(bridge: str = BRIDGE, subnet: str = SUBNET, data_dir: str = "") -> dict[str, object]:
    """The pod network: a bridge with host-local addresses (no masquerade), loopback, portmap."""
    ipam: dict[str, object] = {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                               "routes": [{"dst": "0.0.0.0/0"}]}
    if data_dir:
        ipam["dataDir"] = data_dir
    return {"cniVersion": "0.4.0", "name": NETWORK_NAME, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
         "hairpinMode": True, "ipam": ipam},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}


def _config(root: Path) -> str:
    return f"""version = 2
root = "{root}/root"
state = "{root}/state"
oom_score = 0

[grpc]
  address = "{root}/containerd.sock"

[ttrpc]
  address = "{root}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{root}/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{root}/certs.d"
"""


class PrivateContainerd:
    """containerd on ``<tmp>/containerd.sock``; ``endpoint`` is the kubelet's flag value."""

    def __init__(self, images: tuple[str, ...] = (PAUSE_IMAGE, "minik8s/busybox:latest"),
                 bridge: str = BRIDGE, subnet: str = SUBNET) -> None:
        self.images = images
        self.bridge = bridge
        self.subnet = subnet
        # Short: a unix socket path has at most 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="mk8scri-", dir="/tmp"))
        self.socket = str(self.root / "containerd.sock")
        self.endpoint = "unix://" + self.socket
        self.log_path = self.root / "containerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Run first by stop(), while containerd is up: the owner's removal of every pod
        # through the CRI (kubelet.runtime.cri.remove_all_sandboxes), which the harness
        # cannot import.
        self.before_stop: list[Callable[[], None]] = []

    def start(self, timeout: float = 20.0) -> PrivateContainerd:
        (self.root / "net.d").mkdir()
        (self.root / "net.d" / "10-mk8s.conflist").write_text(json.dumps(
            cni_conflist(self.bridge, self.subnet, str(self.root / "ipam")), indent=1))
        hosts = self.root / "certs.d" / "docker.io"
        hosts.mkdir(parents=True)
        # No registry: docker.io resolves to a closed local port, nothing leaves the machine.
        hosts.joinpath("hosts.toml").write_text(
            'server = "http://127.0.0.1:9"\n\n[host."http://127.0.0.1:9"]\n'
            '  capabilities = ["pull", "resolve"]\n')
        (self.root / "config.toml").write_text(_config(self.root))
        self._launch(timeout)
        self.import_image(*self.images)
        return self

    def _launch(self, timeout: float) -> None:
        log = open(self.log_path, "ab")  # closed below: the child keeps its copy
        self.proc = subprocess.Popen(["containerd", "--config", str(self.root / "config.toml")],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._ctr_ok():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"private containerd did not start:\n{tail}")
            time.sleep(0.1)

    def kill_daemon(self) -> None:
        """End containerd alone (SIGTERM), as a crash of the daemon: the shims and the
        containers keep running, and ``restart_daemon`` brings it back to them."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def restart_daemon(self, timeout: float = 20.0) -> None:
        self.kill_daemon()
        self._launch(timeout)

    def _ctr_ok(self) -> bool:
        if not os.path.exists(self.socket):
            return False
        r = subprocess.run(["ctr", "-a", self.socket, "version"], capture_output=True,
                           timeout=10, check=False)
        return r.returncode == 0

    def ctr(self, *args: str, input: bytes | None = None, timeout: float = 60.0) -> str:
        r = subprocess.run(["ctr", "-a", self.socket, "-n", "k8s.io", *args], input=input,
                           capture_output=True, timeout=timeout, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode(errors="replace")

    def import_image(self, *images: str) -> None:
        """``docker save IMAGE... | ctr -n k8s.io images import -``."""
        saved = subprocess.run(["docker", "save", *images], capture_output=True, timeout=120,
                               check=True).stdout
        self.ctr("images", "import", "-", input=saved, timeout=120)

    def _our_pids(self) -> list[int]:
        """containerd and the shims it started (their command lines name our socket)."""
        out = []
        marks = (f"{self.root}/containerd.sock".encode(), f"{self.root}/config.toml".encode())
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
                if any(m in cmd for m in marks):
                    out.append(int(d))
        return out

    def stop(self) -> None:
        for hook in self.before_stop:
            with contextlib.suppress(Exception):
                hook()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self._our_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._unmount()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        self._portmap_chains()
        shutil.rmtree(self.root, ignore_errors=True)

    def _unmount(self) -> None:
        prefix = str(self.root) + "/"
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        for p in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True, check=False)

    def _portmap_chains(self) -> None:
        """The portmap plugin's top-level nat chains, removed when no pod's DNAT is left
        in them (its per-pod chains go with each pod's CNI DEL)."""
        def ipt(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["iptables", "-w", "-t", "nat", *args], capture_output=True,
                                  text=True, check=False)
        dnat = ipt("-S", "CNI-HOSTPORT-DNAT")
        if dnat.returncode == 0 and len(dnat.stdout.strip().splitlines()) > 1:
            return
        rules = ipt("-S").stdout.splitlines()
        for rule in rules:
            if rule.startswith("-A ") and any(f"-j {c}" in rule for c in PORTMAP_CHAINS):
                ipt("-D", *shlex.split(rule[3:]))
        for chain in PORTMAP_CHAINS:
            ipt("-F", chain)
            ipt("-X", chain)

    def __enter__(self) -> PrivateContainerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
