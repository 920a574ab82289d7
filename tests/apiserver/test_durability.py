"""Restarts, etcd failures, compaction, watch-cache re-lists, slow watchers, bookmarks.

Each test runs its own etcd and API server, since it breaks them on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Iterator

import aetcd
import pytest

from testing.apiclient import Api, Watch, names, pod
from testing.support import ApiServer, Etcd, Process, free_port, wait_for


@pytest.fixture
def own_etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    yield e
    e.stop()


def restart_etcd(e: Etcd) -> None:
    """Kill etcd hard and start it again on the same ports and data."""
    Process.stop(e, signal.SIGKILL)
    e.start()


def etcd_do(e: Etcd, fn: object) -> object:
    host, port = e.url.rsplit("//", 1)[1].split(":")

    async def run() -> object:
        async with aetcd.Client(host=host, port=int(port), timeout=5) as c:
            return await fn(c)  # type: ignore[operator]

    return asyncio.run(run())


def test_restart_loses_nothing(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        before = {}
        for i in range(5):
            p = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"keep{i}"), 201)
            before[p["metadata"]["name"]] = p["metadata"]["resourceVersion"]
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods/keep0/binding",
               {"target": {"name": "n"}}, 201)
        before["keep0"] = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/keep0")[
            "metadata"]["resourceVersion"]
        api.ok("DELETE", f"/api/v1/namespaces/{ns}/pods/keep4")
        del before["keep4"]
        lst_rv = api.ok("GET", f"/api/v1/namespaces/{ns}/pods")["metadata"]["resourceVersion"]
        s.stop()
        s = ApiServer(own_etcd.url, port=s.port).start()
        after = {i["metadata"]["name"]: i["metadata"]["resourceVersion"]
                 for i in api.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]}
        assert after == before
        assert api.ok("GET", f"/api/v1/namespaces/{ns}/pods/keep0")["spec"]["nodeName"] == "n"
        assert api.ok("GET", f"/api/v1/namespaces/{ns}")["status"]["phase"] == "Active"
        # A watch from before the restart either continues exactly or says 410.
        w = Watch(s.url, f"/api/v1/namespaces/{ns}/pods", resourceVersion=lst_rv,
                  timeoutSeconds=10)
        try:
            api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("new"), 201)
            ev = w.next()
            if ev["type"] == "ERROR":
                assert ev["object"]["code"] == 410
            else:
                assert names([ev]) == [("ADDED", "new")]
        finally:
            w.close()
    finally:
        api.close()
        s.stop()


def test_etcd_restart_watch_resumes_without_loss(own_etcd: Etcd) -> None:
    # A dead endpoint first in the list: the client fails over to the live one.
    dead = f"http://127.0.0.1:{free_port()}"
    s = ApiServer(f"{dead},{own_etcd.url}").start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/pods"
        w = Watch(s.url, base, timeoutSeconds=60)
        try:
            api.ok("POST", base, pod("e1"), 201)
            assert names(w.collect(1)) == [("ADDED", "e1")]
            Process.stop(own_etcd, signal.SIGKILL)
            code, st = api.call("POST", base, pod("during"))
            assert code >= 500 and st["kind"] == "Status" and code != 500, (code, st)
            # kube-apiserver's answers: both check etcd, and a failed check is a 500.
            code, _ = api.call("GET", "/readyz")
            assert code == 500
            assert api.call("GET", "/livez")[0] == 500
            own_etcd.start()
            wait_for(lambda: api.call("POST", base, pod("e2"))[0] == 201, timeout=30,
                     message="writes after etcd restart")
            api.ok("POST", base, pod("e3"), 201)
            assert names(w.collect(2, timeout=20)) == [("ADDED", "e2"), ("ADDED", "e3")]
            assert w.quiet(0.5)
        finally:
            w.close()
        wait_for(lambda: api.call("GET", "/readyz")[0] == 200, timeout=20)
    finally:
        api.close()
        s.stop()


def test_relist_after_compaction_no_loss_no_dup(own_etcd: Etcd) -> None:
    """The cache misses events (server frozen, etcd compacted and restarted): it
    re-lists and turns the gap into events, each change exactly once."""
    s = ApiServer(own_etcd.url).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/pods"
        for n in ("stay", "change", "gone"):
            api.ok("POST", base, pod(n), 201)
        w = Watch(s.url, base, timeoutSeconds=60)
        try:
            assert len(w.collect(3)) == 3
            assert s.proc is not None
            os.kill(s.proc.pid, signal.SIGSTOP)
            try:
                async def behind_its_back(c: aetcd.Client) -> None:
                    key = f"/registry/pods/{ns}/".encode()
                    cur = await c.get(key + b"change")
                    obj = json.loads(cur.value)
                    obj["metadata"]["labels"]["changed"] = "yes"
                    await c.put(key + b"change", json.dumps(obj).encode())
                    new = json.loads(cur.value)
                    new["metadata"]["name"] = "born"
                    new["metadata"]["uid"] = "uid-born"
                    await c.put(key + b"born", json.dumps(new).encode())
                    await c.delete(key + b"gone")
                    rev = (await c.put(b"/unrelated", b"x")).header.revision
                    await c.compact(rev)

                etcd_do(own_etcd, behind_its_back)
                restart_etcd(own_etcd)
            finally:
                os.kill(s.proc.pid, signal.SIGCONT)
            evs = w.collect(3, timeout=30)
            assert sorted(names(evs)) == [("ADDED", "born"), ("DELETED", "gone"),
                                          ("MODIFIED", "change")]
            rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
            assert rvs == sorted(rvs)
            assert w.quiet(0.7)
            # And the cache agrees with etcd.
            lst = api.ok("GET", base, resourceVersion="0")
            assert sorted(i["metadata"]["name"] for i in lst["items"]) == [
                "born", "change", "stay"]
        finally:
            w.close()
    finally:
        api.close()
        s.stop()


def test_too_old_resource_version_is_410(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url, ["--watch-cache-capacity", "5",
                                 "--compaction-interval", "0.5"]).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/pods"
        first = api.ok("POST", base, pod("old0"), 201)["metadata"]["resourceVersion"]
        for i in range(1, 12):
            api.ok("POST", base, pod(f"old{i}"), 201)
        w = Watch(s.url, base, resourceVersion=first, timeoutSeconds=10)
        try:
            assert w.status == 200
            ev = w.next()
            assert ev["type"] == "ERROR"
            st = ev["object"]
            assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
            assert "too old resource version" in st["message"]
            assert w.closed(5)
        finally:
            w.close()
        # A list at an exact old revision, or a continue token, once the periodic
        # compaction has passed it: 410.
        page = api.ok("GET", base, limit=2)
        cont = page["metadata"]["continue"]
        api.ok("POST", base, pod("later"), 201)
        wait_for(lambda: api.call("GET", base, limit=2, **{"continue": cont})[0] == 410,
                 timeout=15, message="compaction past the continue token")
        code, st = api.call("GET", base, limit=2, **{"continue": cont})
        assert code == 410 and st["reason"] == "Expired"
        code, st = api.call("GET", base, resourceVersion=first, resourceVersionMatch="Exact")
        assert code == 410 and st["reason"] == "Expired"
    finally:
        api.close()
        s.stop()


def test_bookmarks_and_slow_watcher(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url, ["--bookmark-interval", "0.3", "--watcher-queue", "20"]).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/pods"
        api.ok("POST", base, pod("b0"), 201)
        w = Watch(s.url, base, allowWatchBookmarks="true", timeoutSeconds=30)
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.sendall(f"GET {base}?watch=1&timeoutSeconds=60 HTTP/1.1\r\n"
                     f"Host: x\r\n\r\n".encode())
        try:
            assert names([w.next_non_bookmark()]) == [("ADDED", "b0")]
            bm = w.next()
            assert bm["type"] == "BOOKMARK"
            assert set(bm["object"]["metadata"]) == {"resourceVersion"}
            assert bm["object"]["kind"] == "Pod"
            # Flood: the reading watcher gets everything, the stalled one is closed.
            big = "x" * 60_000
            n = 200
            for i in range(n):
                p = pod(f"f{i}")
                p["metadata"]["annotations"] = {"pad": big}
                api.ok("POST", base, p, 201)
            got = [w.next_non_bookmark(20) for _ in range(n)]
            assert names(got) == [("ADDED", f"f{i}") for i in range(n)]
            # A bookmark after the flood carries the newest resourceVersion.
            last_rv = int(got[-1]["object"]["metadata"]["resourceVersion"])
            bm = w.next(5)
            while bm["type"] != "BOOKMARK":
                bm = w.next(5)
            assert int(bm["object"]["metadata"]["resourceVersion"]) >= last_rv
            # Drain the slow socket: the server ended that stream early (the chunked
            # response's last chunk; the connection itself may stay open, kept alive).
            slow.settimeout(20)
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            assert data.count(b'"type":"ADDED"') < n
            assert data.endswith(b"0\r\n\r\n")
        finally:
            slow.close()
            w.close()
    finally:
        api.close()
        s.stop()


def test_events_expire(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url, ["--event-ttl", "1"]).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        ev = {"metadata": {"name": "short-lived"}, "reason": "Started", "message": "m",
              "type": "Normal", "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns}}
        api.ok("POST", f"/api/v1/namespaces/{ns}/events", ev, 201)
        w = Watch(s.url, f"/api/v1/namespaces/{ns}/events", timeoutSeconds=20)
        try:
            assert names(w.collect(1)) == [("ADDED", "short-lived")]
            assert names(w.collect(1, timeout=15)) == [("DELETED", "short-lived")]
        finally:
            w.close()
        assert api.call("GET", f"/api/v1/namespaces/{ns}/events/short-lived")[0] == 404
        # Other kinds never expire.
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("durable"), 201)
        assert api.call("GET", f"/api/v1/namespaces/{ns}/pods/durable")[0] == 200
    finally:
        api.close()
        s.stop()
