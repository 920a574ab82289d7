"""Small HTTP helpers for the API server tests: JSON calls and a threaded watch reader."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import urllib.parse
from typing import Any

import httpx

from testing.support import unique


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=15)

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json", **params: Any) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        r = self.client.request(method, path, content=data, headers=headers,
                                params={k: v for k, v in params.items() if v is not None})
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def ok(self, method: str, path: str, body: Any = None, expect: int | tuple[int, ...] = 200,
           **kw: Any) -> Any:
        code, out = self.call(method, path, body, **kw)
        want = expect if isinstance(expect, tuple) else (expect,)
        assert code in want, f"{method} {path}: {code} {out}"
        return out

    def namespace(self) -> str:
        name = unique("ns")
        self.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, 201)
        return name

    def close(self) -> None:
        self.client.close()


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.25",
        **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}], **spec}}


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def replicaset(name: str, replicas: int = 2) -> dict[str, Any]:
    d = deployment(name, replicas)
    d["kind"] = "ReplicaSet"
    d["spec"].pop("strategy", None)
    return d


class Watch:
    """Reads a watch stream on a thread; ``next()`` returns decoded events.

    Built on http.client so that ``close()`` can shut the socket down and end the
    reader at once, rather than waiting for the server's timeout.
    """

    def __init__(self, url: str, path: str, **params: Any) -> None:
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.status: int | None = None
        params.setdefault("watch", "true")
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items() if v is not None})
        u = urllib.parse.urlparse(url)
        self._conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
        self._conn.request("GET", f"{path}?{query}")
        resp = self._conn.getresponse()
        self.status = resp.status
        self._resp = resp
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                line = self._resp.readline()
                if not line:
                    break
                if line.strip():
                    self.events.put(json.loads(line))
        except Exception:  # closed under our feet by close(): the stream just ends
            pass
        finally:
            self.events.put(None)

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        ev = self.events.get(timeout=timeout)
        assert ev is not None, "watch closed"
        return ev

    def next_non_bookmark(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            ev = self.next(timeout)
            if ev["type"] != "BOOKMARK":
                return ev

    def collect(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return [self.next_non_bookmark(timeout) for _ in range(n)]

    def closed(self, timeout: float = 10.0) -> bool:
        """True once the server ends the stream (events before the end are drained)."""
        while True:
            try:
                ev = self.events.get(timeout=timeout)
            except queue.Empty:
                return False
            if ev is None:
                return True

    def quiet(self, seconds: float = 0.5) -> bool:
        """No non-bookmark event arrives within ``seconds``."""
        try:
            while True:
                ev = self.events.get(timeout=seconds)
                if ev is None or ev["type"] != "BOOKMARK":
                    return False
        except queue.Empty:
            return True

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(5)


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]
