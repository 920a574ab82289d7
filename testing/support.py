"""Shared test helpers: real etcd and API server processes, and waiting on conditions.

Every test module that needs a cluster gets it from here (through the fixtures in
conftest.py), so there is one way to start etcd, one way to start the API server,
and one way to wait.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
P = TypeVar("P", bound="Process")

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("MINIK8S_TEST_LOGS", tempfile.gettempdir())) / "minik8s-test-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> T:
    """Poll ``cond`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # the condition may fail while the system converges
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


async def async_wait_for(cond: Callable[[], Awaitable[T] | T], timeout: float = 10.0,
                         interval: float = 0.05, message: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
                value = await value
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        await asyncio.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except Exception:
        return False


class Process:
    """A child process with its output in a log file, stopped on ``stop()``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.log_path = LOG_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=ROOT, start_new_session=True)
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def etcd_binary() -> str:
    path = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(path).exists():
        raise RuntimeError("etcd is not installed (apt-get install etcd-server)")
    return path


class Etcd(Process):
    """A private etcd on free loopback ports with a temporary data dir."""

    def __init__(self) -> None:
        self.port = free_port()
        peer = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="minik8s-etcd-")
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("etcd", [
            etcd_binary(), "--name", "test", "--data-dir", self.data_dir,
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer}",
            "--log-level", "warn",
        ], env={"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")})

    def start(self) -> Etcd:
        super().start()
        wait_for(lambda: http_ok(self.url + "/health"), timeout=20,
                 message=f"etcd at {self.url} (log {self.log_path}):\n{self.log_tail()}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        super().stop(sig, timeout)
        shutil.rmtree(self.data_dir, ignore_errors=True)


# The harness's API servers reach kubelets by the IP their node reports before any name:
# Kubernetes' default order puts Hostname first, and a name no local resolver knows would
# be looked up by the host's resolver, off this machine.
LOCAL_KUBELET_ADDRESSES = "InternalIP,ExternalIP,Hostname,InternalDNS,ExternalDNS"


def harness_args(args: Sequence[str]) -> list[str]:
    """The API server flags of the test harness: ``args`` without ServiceAccount admission
    (``without_service_account_admission``) and reaching kubelets by IP first, unless
    ``args`` say otherwise."""
    out = without_service_account_admission(args)
    if not any(a.startswith("--kubelet-preferred-address-types") for a in out):
        out.append(f"--kubelet-preferred-address-types={LOCAL_KUBELET_ADDRESSES}")
    return out


def without_service_account_admission(args: Sequence[str]) -> list[str]:
    """``args`` with the ServiceAccount admission plugin disabled, unless they enable it.

    The plugin (on by default, as in Kubernetes) refuses pods whose ServiceAccount does not
    exist, and the harness's API servers run without the controller-manager that makes a
    ``default`` account in each namespace; a test that wants the plugin passes
    ``--enable-admission-plugins=ServiceAccount``."""
    out = list(args)
    flag = "--disable-admission-plugins"
    for i, a in enumerate(out):
        if a.startswith("--enable-admission-plugins") or \
                (i > 0 and out[i - 1] == "--enable-admission-plugins"):
            if "ServiceAccount" in a.split("=")[-1].split(","):
                return out
    for i, a in enumerate(out):
        if a.startswith(flag + "="):
            out[i] = a + ",ServiceAccount"
            return out
        if a == flag and i + 1 < len(out):
            out[i + 1] += ",ServiceAccount"
            return out
    return [*out, f"{flag}=ServiceAccount"]


class ApiServer(Process):
    """``python -m apiserver`` against the given etcd, on a free port (without ServiceAccount
    admission unless ``extra_args`` enable it: ``without_service_account_admission``)."""

    def __init__(self, etcd_url: str, extra_args: list[str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("apiserver", [
            sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--port", str(self.port),
            *harness_args(extra_args or []),
        ])

    def start(self) -> ApiServer:
        super().start()
        wait_for(lambda: http_ok(self.url + "/readyz") or not self.alive(), timeout=30,
                 message=f"API server at {self.url}")
        if not self.alive():
            raise RuntimeError(f"API server exited:\n{self.log_tail()}")
        return self



@contextmanager
def on_own_etcd(make: Callable[[str], P]) -> Iterator[P]:
    """A private etcd and the server ``make(etcd_url)`` builds on it (an ApiServer, a
    SecureApiServer...), started; both stopped on exit."""
    e = Etcd().start()
    try:
        s = make(e.url)
        try:
            s.start()
            yield s
        finally:
            s.stop()
    finally:
        e.stop()


def service(name: str, module: str, args: list[str], env: dict[str, str] | None = None) -> Process:
    """Start ``python -m <module> <args>``: the scheduler, controller-manager or a kubelet."""
    return Process(name, [sys.executable, "-m", module, *args], env=env).start()


def build_images() -> None:
    """The local pause and busybox images the Docker tests and benchmarks run
    (imagePullPolicy Never)."""
    for script in ("deploy/images/pause/build.sh", "deploy/images/busybox/build.sh"):
        subprocess.run(["sh", str(ROOT / script)], check=True, capture_output=True)


def unique(prefix: str = "t") -> str:
    """A DNS-1123 name no other test uses."""
    return f"{prefix}-{os.getpid() % 10000}-{time.monotonic_ns() % 10**9}"


def json_request(method: str, url: str, body: Any = None,
                 content_type: str = "application/json") -> tuple[int, Any]:
    """A plain HTTP call for tests that want to see the raw wire."""
    import json

    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
