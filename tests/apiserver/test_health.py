"""/livez, /readyz, /healthz as kube-apiserver answers them: verbose lists, single checks,
exclusions, and failure when etcd stops (a private etcd and API server for that)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.timeutil import now_micro
from testing.kubectl import Kubectl
from testing.support import ApiServer, Etcd, Process, wait_for

READYZ = ["ping", "log", "etcd", "etcd-readiness", "informer-sync",
          "poststarthook/bootstrap-controller", "shutdown"]
LIVEZ = ["ping", "log", "etcd", "poststarthook/bootstrap-controller"]


def get(url: str) -> tuple[int, str]:
    r = httpx.get(url, timeout=10)
    return r.status_code, r.text


def test_verbose_lists_every_check(server_url: str) -> None:
    for kind, checks in (("readyz", READYZ), ("livez", LIVEZ), ("healthz", LIVEZ)):
        assert get(f"{server_url}/{kind}") == (200, "ok")
        code, text = get(f"{server_url}/{kind}?verbose")
        assert code == 200
        assert text == "".join(f"[+]{c} ok\n" for c in checks) + f"{kind} check passed\n"
    code, text = get(f"{server_url}/readyz?verbose&exclude=etcd&exclude=nope")
    assert code == 200
    assert "[+]etcd excluded: ok\n" in text
    assert 'warn: some health checks cannot be excluded: no matches for "nope"\n' in text
    assert get(f"{server_url}/readyz/etcd") == (200, "ok")
    assert get(f"{server_url}/livez/ping") == (200, "ok")
    assert get(f"{server_url}/readyz/informer-sync") == (200, "ok")
    code, text = get(f"{server_url}/readyz/nope")
    assert code == 404


@pytest.fixture
def private() -> Iterator[tuple[Etcd, ApiServer]]:
    e = Etcd().start()
    s = ApiServer(e.url).start()
    yield e, s
    s.stop()
    e.stop()


def test_readyz_fails_when_etcd_stops(private: tuple[Etcd, ApiServer]) -> None:
    etcd, server = private
    Process.stop(etcd, signal.SIGKILL)
    code, text = get(f"{server.url}/readyz")
    assert code == 500
    assert "[-]etcd failed: reason withheld\n" in text
    assert "[-]etcd-readiness failed: reason withheld\n" in text
    assert "[+]ping ok\n" in text
    assert text.endswith("readyz check failed\n")
    code, text = get(f"{server.url}/readyz/etcd")
    assert code == 500 and text.startswith("internal server error: ")
    # Without the checks that need etcd (the watch caches lose their watch too).
    code, text = get(f"{server.url}/readyz?exclude=etcd,etcd-readiness&exclude=informer-sync")
    assert (code, text) == (200, "ok"), text
    assert get(f"{server.url}/livez")[0] == 500
    etcd.start()
    wait_for(lambda: get(f"{server.url}/readyz")[0] == 200, timeout=30,
             message="readyz after etcd is back")


def _lease(server: ApiServer, name: str, renew: str) -> None:
    r = httpx.post(f"{server.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                   json={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": name},
                         "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                                  "renewTime": renew, "acquireTime": renew}}, timeout=10)
    assert r.status_code == 201, r.text


def test_componentstatuses(private: tuple[Etcd, ApiServer], tmp_path: Path) -> None:
    etcd, server = private
    kubectl = Kubectl(server.url, tmp_path / "home")
    wait_for(lambda: get(f"{server.url}/readyz")[0] == 200, timeout=20, message="ready")
    _lease(server, "minik8s-scheduler", now_micro())  # a working leader
    _lease(server, "minik8s-controller-manager", "2020-01-01T00:00:00.000000Z")  # a dead one
    out = kubectl("get", "componentstatuses")
    assert out.stderr == "Warning: v1 ComponentStatus is deprecated in v1.19+\n"
    rows = [line.split(None, 2) for line in out.stdout.splitlines()]
    assert out.stdout.splitlines()[0].split() == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    assert [r[:2] for r in rows[1:]] == [["scheduler", "Healthy"],
                                         ["controller-manager", "Unhealthy"],
                                         ["etcd-0", "Healthy"]]
    assert rows[1][2].strip() == "ok" and rows[3][2].strip() == "ok"
    assert "the leader me last renewed the Lease kube-system/minik8s-controller-manager" \
        in rows[2][2]
    got = json.loads(kubectl("get", "cs", "etcd-0", "-o", "json").stdout)
    assert got["kind"] == "ComponentStatus"
    assert got["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
    # Read-only, and nothing else by that kind.
    err = kubectl("delete", "cs", "etcd-0", check=False)
    assert err.returncode == 1
    assert "the server does not allow this method on the requested resource" in err.stderr
    assert kubectl("get", "cs", "nope", check=False).stderr.strip().endswith(
        'componentstatuses "nope" not found')
    # etcd stopped: etcd-0 turns Unhealthy with the reason.
    Process.stop(etcd, signal.SIGKILL)
    out = kubectl("get", "componentstatuses", check=False)
    etcd_row = next(line for line in out.stdout.splitlines() if line.startswith("etcd-0"))
    assert etcd_row.split()[1] == "Unhealthy"
    assert "error getting data from etcd" in etcd_row
