"""Endpoints churn and reloads under a steady request loop: the Service's endpoints go
3 -> 1 (the removed backends then stopped) -> 0 -> 3 while requests keep coming; no
connection error at any time, every request answered 200 while endpoints exist and 503
while none do; nginx reloads during downloads in flight drop nothing."""

from __future__ import annotations

import functools
import http.client
import threading
import time
from collections.abc import Iterator

import pytest

from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.ingress.helpers import (
    BIG,
    Backend,
    Controller,
    Load,
    backends,
    controller,
    docker,
    path,
    service_and_slice,
    set_endpoints,
    up,
)

pytestmark = pytest.mark.docker

ING = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"


@pytest.fixture(scope="module")
def apps() -> Iterator[list[Backend]]:
    with backends(["c1", "c2", "c3"]) as bs:
        yield bs


@pytest.fixture(scope="module")
def ctl(server_url: str) -> Iterator[Controller]:
    with controller(server_url, unique("churn")) as c:
        yield c


def _ingress(api: Api, ns: str, cls: str, host: str, svc: str) -> None:
    api.ok("POST", ING.format(ns=ns), {"metadata": {"name": host.split(".")[0]}, "spec": {
        "ingressClassName": cls,
        "rules": [{"host": host, "http": {"paths": [path("/", "Prefix", svc)]}}]}}, expect=201)


def _routed(ctl: Controller, host: str) -> bool:
    return ctl.get(host)[0] == 200


def _statuses(rs: list[object]) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in rs:
        code = r.status  # type: ignore[attr-defined]
        out[code] = out.get(code, 0) + 1
    return out


def test_endpoints_churn_under_load(api: Api, ctl: Controller, apps: list[Backend]) -> None:
    ns = api.namespace()
    ips = [b.ip for b in apps]
    service_and_slice(api, ns, "churn", ips)
    before = ctl.workers()
    _ingress(api, ns, ctl.ingress_class, "churn.localhost", "churn")
    wait_for(lambda: ctl.get("churn.localhost")[0] == 200, timeout=15, message="routed")
    ctl.settle(before)
    with Load(ctl.http_port, "churn.localhost", workers=4, limit=60) as load:
        wait_for(lambda: load.count() > 50, timeout=10, message="load running")
        t0 = time.monotonic()
        # 3 -> 1, then the two removed backends stop (SIGTERM) once nginx no longer sends
        # them requests, as a pod's preStop delay lets it (a backend killed at once makes
        # requests already on their way to it wait for the connect timeout).
        set_endpoints(api, ns, "churn", ips[:1])
        conf = ctl.run_dir / "nginx.conf"
        wait_for(lambda: not any(f"{ip}:80" in conf.read_text() for ip in ips[1:]),
                 timeout=10, message="nginx without the removed endpoints")
        time.sleep(0.5)  # the old workers' last requests
        dk = docker()
        try:
            for b in apps[1:]:
                dk.containers.get(b.cid).stop(timeout=5)
        finally:
            dk.close()
        time.sleep(1.0)
        # 1 -> 0: 503 once nginx has it; -> 3 again (the stopped backends restarted).
        t_zero = time.monotonic()
        before = ctl.workers()
        set_endpoints(api, ns, "churn", [])
        wait_for(lambda: any(r.status == 503 for r in load.since(t_zero)), timeout=10,
                 message="503 with no endpoints")
        ctl.settle(before)
        t_zero_seen = time.monotonic()
        time.sleep(1.0)
        dk = docker()
        try:
            for b in apps[1:]:
                c = dk.containers.get(b.cid)
                c.start()
                c.reload()
                b.ip = c.attrs["NetworkSettings"]["Networks"]["minik8s-pods"]["IPAddress"]
        finally:
            dk.close()
        for b in apps:
            wait_for(functools.partial(up, b.ip), timeout=20, message="backend back")
        t_back = time.monotonic()
        before = ctl.workers()
        set_endpoints(api, ns, "churn", [b.ip for b in apps])
        wait_for(lambda: any(r.status == 200 for r in load.since(t_back)), timeout=10,
                 message="200 again")
        ctl.settle(before)
        t_back_seen = time.monotonic()
        time.sleep(1.5)
        t_end = time.monotonic()
    every = load.since(0)
    assert not [r for r in every if r.status == 0], [r for r in every if r.status == 0][:5]
    # While endpoints existed: only 200s (3 -> 1 with the removed backends stopping).
    assert _statuses(load.since(0, t_zero)) == {200: len(load.since(0, t_zero))}
    assert len(load.since(t0, t_zero)) > 20
    # With none: 503s once nginx had it (and the older workers were gone).
    settled = load.since(t_zero_seen, t_back)
    assert settled and _statuses(settled) == {503: len(settled)}
    after = load.since(t_back_seen, t_end)
    assert after and _statuses(after) == {200: len(after)}
    hosts = set()
    for _ in range(30):
        code, body = ctl.get("churn.localhost")
        assert code == 200
        hosts.add(body.split()[0])
    assert hosts == {"c1", "c2", "c3"}, hosts
    api.ok("DELETE", ING.format(ns=ns) + "/churn")


def test_reloads_under_load_drop_nothing(api: Api, ctl: Controller, apps: list[Backend]) -> None:
    ns = api.namespace()
    service_and_slice(api, ns, "steady", [b.ip for b in apps])
    before = ctl.workers()
    _ingress(api, ns, ctl.ingress_class, "steady.localhost", "steady")
    wait_for(lambda: ctl.get("steady.localhost")[0] == 200, timeout=15, message="routed")
    ctl.settle(before)
    downloads: list[int | str] = []

    def download() -> None:
        c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=20)
        try:
            c.request("GET", "/big", headers={"Host": "steady.localhost"})
            r = c.getresponse()
            body = r.read()
            downloads.append(len(body) if r.status == 200 else f"status {r.status}")
        except OSError as e:
            downloads.append(repr(e))
        finally:
            c.close()

    with Load(ctl.http_port, "steady.localhost", workers=4, limit=60) as load:
        wait_for(lambda: load.count() > 50, timeout=10, message="load running")
        reloads = 0
        for i in range(3):
            slow = [threading.Thread(target=download) for _ in range(2)]
            for t in slow:
                t.start()
            time.sleep(0.3)
            # A new Ingress is a new nginx configuration: a reload with downloads in flight.
            _ingress(api, ns, ctl.ingress_class, f"extra{i}.localhost", "steady")
            host = f"extra{i}.localhost"
            wait_for(functools.partial(_routed, ctl, host), timeout=15, message="reloaded")
            reloads += 1
            for t in slow:
                t.join(timeout=30)
    every = load.since(0)
    assert reloads == 3 and len(every) > 100
    assert _statuses(every) == {200: len(every)}, [r for r in every if r.status != 200][:5]
    assert downloads == [BIG] * 6, downloads
    for i in range(3):
        api.ok("DELETE", ING.format(ns=ns) + f"/extra{i}")
    api.ok("DELETE", ING.format(ns=ns) + "/steady")
