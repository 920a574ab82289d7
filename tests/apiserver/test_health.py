"""/livez, /readyz, /healthz as kube-apiserver answers them: verbose lists, single checks,
exclusions, and failure when etcd stops (a private etcd and API server for that)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

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
