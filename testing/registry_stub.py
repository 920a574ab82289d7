"""A registry on loopback that never serves an image, for pull tests that never leave the
machine: ``hang`` accepts and never answers (a slow pull: the daemon waits for its TLS
handshake, then its HTTP fallback), ``close`` accepts and hangs up at once (a fast failure).

The daemon treats 127.0.0.0/8 registries as insecure: each pull attempt opens one TLS
connection (a ClientHello, first byte 0x16) and, when that fails, an HTTP one. The stub
counts the ClientHellos, so ``attempts`` holds the time of each pull attempt the daemon
made, whatever the kubelet did."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class StubRegistry:
    def __init__(self, mode: str = "hang") -> None:
        assert mode in ("hang", "close")
        self.mode = mode
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self.attempts: list[float] = []  # monotonic times of the TLS ClientHellos
        self.connections = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="stub-registry")

    def image(self, name: str) -> str:
        return f"127.0.0.1:{self.port}/{name}"

    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def __enter__(self) -> StubRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            conns, self._open = self._open, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    def _handle(self, c: socket.socket) -> None:
        c.settimeout(1.0)
        with self._lock:
            self.connections += 1
            self._open.append(c)
        try:
            first = b""
            deadline = time.monotonic() + 5
            while not first and time.monotonic() < deadline and not self._stop.is_set():
                try:
                    first = c.recv(1)
                    if not first:
                        return
                except TimeoutError:
                    continue
            if first == b"\x16":
                with self._lock:
                    self.attempts.append(time.monotonic())
            if self.mode == "close":
                return
            # hang: read (and drop) whatever comes until the peer gives up
            while not self._stop.is_set():
                try:
                    if not c.recv(4096):
                        return
                except TimeoutError:
                    continue
        except OSError:
            return
        finally:
            with self._lock:
                if c in self._open:
                    self._open.remove(c)
            with contextlib.suppress(OSError):
                c.close()
