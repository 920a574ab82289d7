"""deploy/etcd.sh on a local 3-member etcd cluster with a real API server over all three.

- the API server's etcd client fails over: one member stopped, writes still succeed;
- snapshot, delete, restore (Kubernetes' procedure: stop the API server, restore every
  member from the snapshot into new data directories, start them, start the API server):
  the deleted objects are back and served, the later ones gone;
- defragmentation, one member at a time, succeeds on every member;
- status; bad usage is one line and a non-zero exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.models import ConfigMap, ObjectMeta
from client import Client
from client.errors import NotFound
from testing.support import (
    ROOT,
    ApiServer,
    Process,
    etcd_binary,
    free_port,
    http_ok,
    unique,
    wait_for,
)

pytestmark = pytest.mark.timeout(150)

SCRIPT = ROOT / "deploy" / "etcd.sh"
TOKEN = "minik8s-test"

if shutil.which("etcdctl") is None:
    pytest.skip("needs etcdctl (apt-get install etcd-client)", allow_module_level=True)


class Member(Process):
    def __init__(self, name: str, client_port: int, peer_port: int, cluster: str,
                 data_dir: str) -> None:
        self.url = f"http://127.0.0.1:{client_port}"
        self.peer = f"http://127.0.0.1:{peer_port}"
        self.data_dir = data_dir
        self.member_name = name
        super().__init__(f"etcd-{name}", [
            etcd_binary(), "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer,
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", TOKEN, "--log-level", "warn",
            "--heartbeat-interval", "250", "--election-timeout", "2500",
        ], env={"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")})


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.ports = [(free_port(), free_port()) for _ in range(3)]
        self.names = [f"m{i}" for i in range(3)]
        self.cluster = ",".join(f"{n}=http://127.0.0.1:{p}"
                                for n, (_, p) in zip(self.names, self.ports, strict=True))
        self.members: list[Member] = []
        self.generation = 0

    @property
    def endpoints(self) -> str:
        return ",".join(f"http://127.0.0.1:{c}" for c, _ in self.ports)

    def data_dir(self, i: int) -> str:
        return str(self.base / f"gen{self.generation}" / self.names[i])

    def start(self) -> Cluster:
        self.members = [Member(n, c, p, self.cluster, self.data_dir(i))
                        for i, (n, (c, p)) in enumerate(zip(self.names, self.ports, strict=True))]
        for m in self.members:
            m.start()
        for m in self.members:
            wait_for(lambda m=m: http_ok(m.url + "/health"), timeout=30,  # type: ignore[misc]
                     message=f"{m.member_name} healthy:\n{m.log_tail()}")
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()


def script(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                       timeout=90, cwd=ROOT)
    if check:
        assert p.returncode == 0, f"etcd.sh {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    base = Path(tempfile.mkdtemp(prefix="minik8s-etcd3-"))
    c = Cluster(base).start()
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


def cm(name: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="default"), data={"k": name})


def exists(api: Client, name: str) -> bool:
    try:
        api.get(ConfigMap, name, "default")
        return True
    except NotFound:
        return False


def test_status_and_bad_usage(cluster: Cluster) -> None:
    out = script("--endpoints", cluster.endpoints, "status").stdout
    for c, _ in cluster.ports:
        assert f"127.0.0.1:{c}" in out
    assert out.count("true") >= 1  # one leader (IS LEADER column) and healthy lines
    p = script("--endpoints", cluster.endpoints, "bogus", check=False)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "unknown command bogus" in p.stderr


def test_member_down_writes_succeed_then_snapshot_restore(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    server = ApiServer(cluster.endpoints).start()
    try:
        with Client(server.url) as api:
            # the API server's etcd client moves to the other members
            cluster.members[0].stop()
            for i in range(3):
                api.create(cm(f"down-{i}"))
            cluster.members[0].start()
            wait_for(lambda: http_ok(cluster.members[0].url + "/health"), timeout=30,
                     message="m0 back")
            before = [unique("before") for _ in range(3)]
            for n in before:
                api.create(cm(n))
            snap = tmp_path / "snap.db"
            out = script("--endpoints", cluster.endpoints, "save", str(snap)).stdout
            assert "saved to" in out and snap.stat().st_size > 0
            for n in before:
                api.delete(ConfigMap, n, "default")
            later = unique("later")
            api.create(cm(later))
            assert not any(exists(api, n) for n in before)
        # Kubernetes' procedure: API servers down, every member restored into a new data
        # directory, members up, API servers up
        server.stop()
        cluster.stop()
        cluster.generation += 1
        for i, name in enumerate(cluster.names):
            script("restore-member", str(snap), "--name", name, "--data-dir",
                   cluster.data_dir(i), "--initial-cluster", cluster.cluster,
                   "--initial-cluster-token", TOKEN,
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{cluster.ports[i][1]}")
        cluster.start()
        server = ApiServer(cluster.endpoints).start()
        with Client(server.url) as api:
            for n in before:
                assert api.get(ConfigMap, n, "default").data == {"k": n}
            assert not exists(api, later)
            assert exists(api, "down-0")
            # and it keeps working: writes after the restore
            api.create(cm(unique("after")))
    finally:
        server.stop()


def test_defrag_every_member(cluster: Cluster) -> None:
    out = script("--endpoints", cluster.endpoints, "defrag").stdout
    lines = [line for line in out.splitlines() if line.startswith("defragmented")]
    assert len(lines) == 3, out
    # followers first, the leader last
    assert "(leader)" in lines[-1] and all("(follower)" in line for line in lines[:2])
