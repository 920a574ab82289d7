"""The CRI runtime: the kubelet speaks the Container Runtime Interface (runtime.v1) over gRPC.

Why: a real node runs its own container runtime, and Kubernetes' kubelet talks to it only
through the CRI, over the runtime's unix socket. containerd from Debian has the CRI built
in (its ``cri`` plugin): it creates the pause sandbox, calls the CNI plugins
(/usr/lib/cni) with the node's CNI config (/etc/cni/net.d) for the pod's network and
hostPorts (portmap), pulls and unpacks images, writes each container's log file, and
serves exec/attach streams. Speaking the CRI rather than containerd's own API keeps the
kubelet runtime-neutral (CRI-O speaks the same protocol) and puts the sandbox, network
and log plumbing where Kubernetes puts it. The client is grpcio's asyncio API (a
maintained client, the one the etcd client already brings), with the messages
generated from kubelet/runtime/cri_api/api.proto. The Docker runtime stays the default
(shared-Docker nodes) and the fake runtime serves hollow nodes.

Mapping onto the kubelet's runtime interface (kubelet/runtime/base.py):

- A sandbox is a CRI pod sandbox; app containers are CRI containers. Both carry the
  kubelet's labels (pod uid, names, node, restart count), so a restarted kubelet rebuilds
  everything from ListPodSandbox/ListContainers. Statuses are cached per (id, state), as
  the Docker runtime caches inspects: a quiet node's relist is two list calls.
- Logs are the CRI log files the runtime writes under ``--pod-logs-dir``
  (``<ns>_<pod>_<uid>/<container>/<restarts>.log``, lines ``<RFC3339Nano> <stream> <F|P>
  <msg>``), read here for ``kubectl logs`` (tail, since, timestamps, follow, previous).
- Probes' commands are ExecSync; interactive exec/attach ask Exec/Attach for a URL on the
  runtime's streaming server and speak SPDY/3.1 to it (client/spdystream.py), as the
  kubelet's streaming proxy does; kubectl's side stays the kubelet's websocket protocol.
- containerd before 1.7 has no container event stream: ``watch_events`` lists containers
  every ``event_poll`` seconds and reports the ones whose state changed (a PLEG); the same
  loop rotates the log files grown past ``--container-log-max-size``.

Every call has a deadline (``--runtime-request-timeout``; a stop: that plus its grace
period). A runtime that cannot be reached (socket gone, daemon down) raises
RuntimeUnavailable; a failed pull is ErrImagePull with the runtime's message, as the
kubelet shows it (``rpc error: code = ... desc = ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import math
import os
import shutil
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio

from api import remotecommand as rc
from client import spdystream
from kubelet.runtime.base import (
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_TYPE,
    SANDBOX_NAME,
    TYPE_SANDBOX,
    ContainerConfig,
    ContainerCreateError,
    ContainerInfo,
    ExecError,
    ExecResult,
    ExecSession,
    ImagePullError,
    PodSandboxConfig,
    RuntimeUnavailable,
    SandboxInfo,
    normalize_image,
)
from kubelet.runtime.cri_api import api_pb2 as pb
from kubelet.runtime.cri_api import api_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
POD_LOGS_DIR = "/var/log/pods"
CRI_VERSION = "v1"

_STATES = {pb.CONTAINER_CREATED: "created", pb.CONTAINER_RUNNING: "running",
           pb.CONTAINER_EXITED: "exited", pb.CONTAINER_UNKNOWN: "unknown"}
_NS_MODES = {"POD": pb.POD, "CONTAINER": pb.CONTAINER, "NODE": pb.NODE, "TARGET": pb.TARGET}
# A container's new state as the Docker event the kubelet's event loop knows.
_ACTIONS: dict[int, str] = {pb.CONTAINER_CREATED: "create", pb.CONTAINER_RUNNING: "start",
                            pb.CONTAINER_EXITED: "die"}
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED)


def rpc_message(exc: grpc.aio.AioRpcError) -> str:
    """The error as the kubelet prints a CRI error (Go's status.Error text)."""
    return f"rpc error: code = {_code_name(exc.code())} desc = {exc.details() or ''}"


def _code_name(code: grpc.StatusCode) -> str:
    """grpc.StatusCode.NOT_FOUND -> NotFound (Go's codes.Code String())."""
    return "".join(part.capitalize() for part in code.name.split("_"))


def _ns_to_rfc3339(ns: int) -> str | None:
    if ns <= 0:
        return None
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_log_dir(root: str, namespace: str, name: str, uid: str) -> str:
    """``/var/log/pods/<namespace>_<name>_<uid>`` (kubelet BuildPodLogsDirectory)."""
    return os.path.join(root, f"{namespace}_{name}_{uid}")


def parse_cri_log_line(line: bytes) -> tuple[str, str, bool, bytes] | None:
    """``<RFC3339Nano> <stream> <F|P> <msg>`` -> (timestamp, stream, full, msg)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    msg = parts[3] if len(parts) == 4 else b""
    return ts.decode(errors="replace"), stream.decode(errors="replace"), \
        not tag.startswith(b"P"), msg


def _ts_seconds(ts: str) -> float:
    """An RFC 3339 timestamp with up to nanoseconds -> unix seconds."""
    main, _, frac = ts.partition(".")
    tz = "Z"
    if frac:
        digits = ""
        for i, ch in enumerate(frac):
            if not ch.isdigit():
                tz = frac[i:]
                break
            digits += ch
        frac = digits
    else:
        for sep in ("Z", "+", "-"):
            idx = main.find(sep, 10)
            if idx > 0:
                main, tz = main[:idx], main[idx:]
                break
    if tz == "Z":
        tz = "+00:00"
    try:
        base = datetime.fromisoformat(main + tz).timestamp()
    except ValueError:
        return 0.0
    return base + (float("0." + frac) if frac else 0.0)


def render_log(data: bytes, tail: int | None, timestamps: bool,
               since: float | None) -> tuple[list[bytes], int]:
    """Complete lines of a CRI log file as ``kubectl logs`` shows them; returns them
    and how many bytes were consumed (a last line without its newline is left)."""
    out: list[bytes] = []
    pending: list[bytes] = []
    pending_ts = ""
    consumed = 0
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        rec = parse_cri_log_line(data[pos:nl])
        pos = nl + 1
        consumed = pos
        if rec is None:
            continue
        ts, _stream, full, msg = rec
        if not pending:
            pending_ts = ts
        pending.append(msg)
        if not full:
            continue
        body = b"".join(pending) + b"\n"
        pending = []
        if since is not None and since > 0 and _ts_seconds(pending_ts) < since:
            continue
        out.append((pending_ts.encode() + b" " + body) if timestamps else body)
    if tail is not None:
        out = out[-tail:] if tail > 0 else []
    return out, consumed


STREAM_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                    "channel.k8s.io")


class _SpdyExecSession:
    """An exec/attach on the runtime's streaming server (its URL from the CRI Exec/Attach
    call), over SPDY/3.1 as Kubernetes' kubelet and client-go's remotecommand speak it:
    one stream each for the error channel, stdin, stdout, stderr and (with a tty) resize.
    SPDY rather than the websocket channel protocol because containerd's server speaks
    only v4 over websockets, which cannot half-close stdin (``kubectl exec -i`` with piped
    input); a SPDY stream can (FIN)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 attach: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._attach = attach
        self.conn = spdystream.Connection(self._send, server=False)
        self._pump = asyncio.create_task(self._read_loop())
        self.error: spdystream.Stream | None = None
        self.stdin: spdystream.Stream | None = None
        self.stdout: spdystream.Stream | None = None
        self.stderr: spdystream.Stream | None = None
        self.resize_stream: spdystream.Stream | None = None
        self._code: int | None = None

    async def _send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def _read_loop(self) -> None:
        try:
            while chunk := await self._reader.read(65536):
                await self.conn.feed(chunk)
        except (OSError, ValueError) as exc:
            log.debug("CRI stream connection ended: %s", exc)
        finally:
            self.conn.connection_lost()

    async def open(self, stdin: bool, stderr: bool, tty: bool) -> None:
        def kind(name: str) -> dict[str, list[str]]:
            return {"streamType": [name]}
        # client-go's order: the error stream first, then the data streams.
        self.error = await self.conn.create_stream(kind("error"))
        if stdin:
            self.stdin = await self.conn.create_stream(kind("stdin"))
        self.stdout = await self.conn.create_stream(kind("stdout"))
        if stderr:
            self.stderr = await self.conn.create_stream(kind("stderr"))
        if tty:
            self.resize_stream = await self.conn.create_stream(kind("resize"))

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        sources = [(rc.STDOUT, s) for s in (self.stdout,) if s is not None] + \
            [(rc.STDERR, s) for s in (self.stderr,) if s is not None]

        async def pump(channel: int, stream: spdystream.Stream) -> None:
            try:
                while chunk := await stream.read():
                    await queue.put((channel, chunk))
            finally:
                await queue.put(None)
        tasks = [asyncio.create_task(pump(ch, st)) for ch, st in sources]
        left = len(tasks)
        try:
            while left:
                item = await queue.get()
                if item is None:
                    left -= 1
                    continue
                yield item
        finally:
            for t in tasks:
                t.cancel()

    async def write_stdin(self, data: bytes) -> None:
        if self.stdin is None or self.stdin.local_closed or self.conn.closed.is_set():
            raise OSError("stdin is closed")
        await self.stdin.write(data)

    async def close_stdin(self) -> None:
        if self.stdin is not None:
            await self.stdin.close()

    async def resize(self, width: int, height: int) -> None:
        if self.resize_stream is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.resize_stream.write(json.dumps(
                    {"Width": width, "Height": height}).encode() + b"\n")

    async def wait(self) -> int:
        if self._attach:
            return 0
        if self._code is None and self.error is not None:
            raw = await self.error.read_all()
            self._code = self._exit_code(raw)
        return self._code or 0

    @staticmethod
    def _exit_code(raw: bytes) -> int:
        """The v4 error stream: a Status (Success, or NonZeroExitCode with the code)."""
        if not raw.strip():
            return 0
        try:
            status = json.loads(raw)
        except ValueError:
            return 1
        if not isinstance(status, dict) or status.get("status") == "Success":
            return 0
        for cause in (status.get("details") or {}).get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == rc.EXIT_CODE_CAUSE:
                with contextlib.suppress(ValueError, TypeError):
                    return int(cause.get("message", 1))
        return 1

    async def close(self) -> None:
        await self.conn.go_away()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


async def open_stream(url: str, stdin: bool, stderr: bool, tty: bool, attach: bool,
                      timeout: float = 30.0) -> _SpdyExecSession:
    """Upgrade a streaming-server URL to SPDY/3.1 and open the session's streams."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ExecError(f"unsupported streaming URL {url!r} (only http:// is spoken here)")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(u.hostname, u.port or 80), timeout)
    except (OSError, TimeoutError) as exc:
        raise ExecError(f"cannot reach the runtime's streaming server at {url}: {exc}") from exc
    path = u.path + (f"?{u.query}" if u.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: Upgrade\r\n"
               "Upgrade: SPDY/3.1\r\n"
               + "".join(f"X-Stream-Protocol-Version: {p}\r\n" for p in STREAM_PROTOCOLS)
               + "\r\n")
    try:
        writer.write(request.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError) as exc:
        writer.close()
        raise ExecError(f"streaming server at {url}: {exc}") from exc
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status_line + " ":
        body = b""
        with contextlib.suppress(Exception):
            body = await asyncio.wait_for(reader.read(4096), 2)
        writer.close()
        raise ExecError(f"streaming server refused the upgrade: {status_line} "
                        f"{body.decode(errors='replace').strip()}")
    session = _SpdyExecSession(reader, writer, attach)
    try:
        await session.open(stdin, stderr, tty)
    except (spdystream.StreamError, ConnectionError) as exc:
        await session.close()
        raise ExecError(f"streaming server at {url}: {exc}") from exc
    return session


class CRIRuntime:
    """ContainerRuntime over a CRI endpoint (containerd's cri plugin, or CRI-O)."""

    name = "containerd"

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, root_dir: str = "/var/lib/minik8s",
                 pod_logs_dir: str = POD_LOGS_DIR, request_timeout: float = 120.0,
                 use_cgroup_parent: bool = True, event_poll: float = 1.0,
                 log_max_size: int = 10 * 1024 * 1024, log_max_files: int = 5,
                 log_check_seconds: float = 10.0) -> None:
        self.endpoint = endpoint if "://" in endpoint else "unix://" + endpoint
        self.root_dir = root_dir
        self.pod_logs_dir = pod_logs_dir
        self.request_timeout = request_timeout
        self.use_cgroup_parent = use_cgroup_parent
        self.event_poll = event_poll
        # containerLogMaxSize / containerLogMaxFiles: the runtime writes the log files, the
        # kubelet rotates them (as Kubernetes' container log manager does).
        self.log_max_size = log_max_size
        self.log_max_files = max(2, log_max_files)
        self.log_check_seconds = log_check_seconds
        self._log_checked = 0.0
        self._channel: grpc.aio.Channel | None = None
        self._rt: pb_grpc.RuntimeServiceStub | None = None
        self._img: pb_grpc.ImageServiceStub | None = None
        # id -> (state, info): statuses kept while a container's state does not change.
        self._cache: dict[str, tuple[int, ContainerInfo]] = {}
        self._sandboxes: dict[str, pb.PodSandboxConfig] = {}  # id -> its config
        self._closed = False

    # ---- plumbing --------------------------------------------------------

    def _stubs(self) -> tuple[pb_grpc.RuntimeServiceStub, pb_grpc.ImageServiceStub]:
        if self._rt is None or self._img is None:
            target = self.endpoint
            if target.startswith("unix://") and not target.startswith("unix:///"):
                target = "unix:" + target[len("unix://"):]
            self._channel = grpc.aio.insecure_channel(target, options=[
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                # Reconnect quickly after a runtime restart.
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2000)])
            stubs: Any = pb_grpc  # generated without annotations
            self._rt = stubs.RuntimeServiceStub(self._channel)
            self._img = stubs.ImageServiceStub(self._channel)
        return self._rt, self._img

    @property
    def rt(self) -> pb_grpc.RuntimeServiceStub:
        return self._stubs()[0]

    @property
    def img(self) -> pb_grpc.ImageServiceStub:
        return self._stubs()[1]

    async def _call(self, method: Any, request: Any, extra_timeout: float = 0.0,
                    timeout: float | None = None) -> Any:
        """One unary call with a deadline; an unreachable runtime is RuntimeUnavailable."""
        limit = timeout if timeout is not None else self.request_timeout + extra_timeout
        try:
            return await method(request, timeout=limit)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _UNREACHABLE:
                what = ("context deadline exceeded" if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                        else exc.details())
                raise RuntimeUnavailable(
                    f"container runtime at {self.endpoint} is unavailable: {what}") from exc
            raise

    async def version(self) -> str:
        r = await self._call(self.rt.Version, pb.VersionRequest(version=CRI_VERSION))
        return str(r.runtime_version)

    async def ping(self) -> bool:
        """Ready when the runtime says RuntimeReady and NetworkReady (a node without a CNI
        config is NotReady, as with Kubernetes' kubelet)."""
        try:
            r = await self._call(self.rt.Status, pb.StatusRequest(), timeout=min(
                10.0, self.request_timeout))
        except Exception:
            return False
        conds = {c.type: c.status for c in r.status.conditions}
        return bool(conds.get("RuntimeReady")) and bool(conds.get("NetworkReady", True))

    async def status_message(self) -> str:
        """Why the runtime is not ready ("" when it is)."""
        try:
            r = await self._call(self.rt.Status, pb.StatusRequest(), timeout=10.0)
        except Exception as exc:
            return str(exc)
        return "; ".join(f"{c.type}={c.status} reason:{c.reason} message:{c.message}"
                         for c in r.status.conditions if not c.status)

    async def close(self) -> None:
        self._closed = True
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._rt = self._img = None

    # ---- images ----------------------------------------------------------

    async def image_id(self, image: str) -> str | None:
        r = await self._call(self.img.ImageStatus, pb.ImageStatusRequest(
            image=pb.ImageSpec(image=normalize_image(image))))
        return str(r.image.id) if r.HasField("image") and r.image.id else None

    async def image_size(self, image_id: str) -> int:
        try:
            r = await self._call(self.img.ImageStatus, pb.ImageStatusRequest(
                image=pb.ImageSpec(image=image_id)))
        except grpc.aio.AioRpcError:
            return 0
        return int(r.image.size) if r.HasField("image") else 0

    async def pull_image(self, image: str, progress_deadline: float | None = None) -> str:
        ref = normalize_image(image)
        # The CRI has no progress report: the deadline bounds the whole pull.
        limit = max(progress_deadline or 0.0, self.request_timeout)
        try:
            r = await self.img.PullImage(pb.PullImageRequest(
                image=pb.ImageSpec(image=ref, user_specified_image=image)), timeout=limit)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise RuntimeUnavailable(
                    f"container runtime at {self.endpoint} is unavailable: {exc.details()}"
                ) from exc
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ImagePullError(f'Cancel pulling image "{ref}": not pulled in {limit:g}s '
                                     "(rpc error: code = DeadlineExceeded desc = context "
                                     "deadline exceeded)") from exc
            raise ImagePullError(rpc_message(exc)) from exc
        got = await self.image_id(ref)
        return got or str(r.image_ref)

    # ---- sandboxes -------------------------------------------------------

    def _cgroup_parent(self, requested: str | None) -> str:
        """The kubelet's QoS parent (/kubepods/<qos>), as the Docker runtime uses it: each
        container's cgroup is <parent>/<id> (no pod-level cgroup between), where the
        kubelet's cgroup reader (kubelet/stats.py) finds it for the Summary API."""
        if not requested or not self.use_cgroup_parent:
            return ""
        return requested.rstrip("/")

    def _sandbox_proto(self, config: PodSandboxConfig) -> pb.PodSandboxConfig:
        labels = config.labels
        ns, name, uid = (labels.get(LABEL_POD_NAMESPACE, "default"),
                         labels.get(LABEL_POD_NAME, ""), labels.get(LABEL_POD_UID, ""))
        dns = None
        if config.dns_config is not None:
            dns = pb.DNSConfig(servers=config.dns_config.servers,
                               searches=config.dns_config.searches,
                               options=config.dns_config.options)
        ports = [pb.PortMapping(protocol=pb.UDP if p.protocol.lower() == "udp"
                                else pb.SCTP if p.protocol.lower() == "sctp" else pb.TCP,
                                container_port=p.container_port, host_port=p.host_port,
                                host_ip=p.host_ip or "")
                 for p in config.port_mappings]
        nsopt = pb.NamespaceOption(
            network=pb.NODE if config.host_network else pb.POD,
            pid=pb.NODE if config.host_pid else pb.CONTAINER,
            ipc=pb.NODE if config.host_ipc else pb.POD)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=name, uid=uid, namespace=ns,
                attempt=int(labels.get(LABEL_RESTART_COUNT, "0") or 0)),
            hostname="" if config.host_network else config.hostname,
            log_directory=pod_log_dir(self.pod_logs_dir, ns, name, uid),
            dns_config=dns, port_mappings=ports, labels=labels,
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self._cgroup_parent(config.cgroup_parent),
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=nsopt)))

    async def run_sandbox(self, config: PodSandboxConfig) -> SandboxInfo:
        proto = self._sandbox_proto(config)
        try:
            await asyncio.to_thread(os.makedirs, proto.log_directory, 0o755, True)
        except OSError as exc:
            raise ContainerCreateError(f"cannot make the pod's log directory: {exc}") from exc
        try:
            r = await self._call(self.rt.RunPodSandbox, pb.RunPodSandboxRequest(config=proto))
        except grpc.aio.AioRpcError as exc:
            raise ContainerCreateError(rpc_message(exc)) from exc
        sid = str(r.pod_sandbox_id)
        self._sandboxes[sid] = proto
        ip = ""
        if not config.host_network:
            st = await self._call(self.rt.PodSandboxStatus,
                                  pb.PodSandboxStatusRequest(pod_sandbox_id=sid))
            ip = str(st.status.network.ip)
            try:
                await asyncio.to_thread(self._write_hosts, config, ip)
            except OSError as exc:
                raise ContainerCreateError(f"cannot write the pod's hosts file: {exc}") from exc
        return SandboxInfo(id=sid, ip=ip)

    def hosts_path(self, pod_uid: str) -> str:
        return os.path.join(self.root_dir, "pods", pod_uid, "etc-hosts")

    def _write_hosts(self, config: PodSandboxConfig, ip: str) -> None:
        """The kubelet-managed /etc/hosts of a pod (kubelet_pods.go managedHostsFileContent):
        localhost, and the pod's IP with its name (``<hostname>.<subdomain>.<ns>.svc.<domain>``
        first when spec.subdomain is set, which ``hostname -f`` then gives)."""
        uid = config.labels.get(LABEL_POD_UID, "")
        if not uid or "/" in uid or uid in (".", ".."):
            return
        names = ([f"{config.hostname}.{config.domainname}"] if config.domainname else []) + \
            [config.hostname]
        text = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
                + (f"{ip}\t" + "\t".join(names) + "\n" if ip else ""))
        path = self.hosts_path(uid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    async def _sandbox_config(self, sandbox_id: str) -> pb.PodSandboxConfig:
        """The sandbox's config as it was run (rebuilt from its status after a restart)."""
        got = self._sandboxes.get(sandbox_id)
        if got is not None:
            return got
        st = (await self._call(self.rt.PodSandboxStatus,
                               pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))).status
        md = st.metadata
        # The cgroup parent is filled in by start_container from the container's QoS parent.
        proto = pb.PodSandboxConfig(
            metadata=md, log_directory=pod_log_dir(self.pod_logs_dir, md.namespace, md.name,
                                                   md.uid),
            labels=dict(st.labels), annotations=dict(st.annotations),
            linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=st.linux.namespaces.options)))
        self._sandboxes[sandbox_id] = proto
        return proto

    # ---- app containers --------------------------------------------------

    async def start_container(self, config: ContainerConfig, sandbox: SandboxInfo) -> str:
        sb = pb.PodSandboxConfig()
        sb.CopyFrom(await self._sandbox_config(sandbox.id))
        if not sb.linux.cgroup_parent:
            sb.linux.cgroup_parent = self._cgroup_parent(config.cgroup_parent)
        if config.privileged:
            # The runtime checks the sandbox config given with the create: a privileged
            # container needs a privileged sandbox (the kubelet's rule: any container
            # privileged makes the sandbox so).
            sb.linux.security_context.privileged = True
        restarts = int(config.labels.get(LABEL_RESTART_COUNT, "0") or 0)
        cname = config.labels.get(LABEL_CONTAINER_NAME, "")
        log_path = f"{cname}/{restarts}.log"
        try:
            await asyncio.to_thread(os.makedirs, os.path.join(sb.log_directory, cname),
                                    0o755, True)
        except OSError as exc:
            raise ContainerCreateError(f"cannot make the container's log directory: {exc}") from exc
        res = config.resources
        resources = pb.LinuxContainerResources(
            cpu_period=res.cpu_period or 0, cpu_quota=res.cpu_quota or 0,
            cpu_shares=res.cpu_shares or 0, memory_limit_in_bytes=res.memory_limit or 0,
            memory_swap_limit_in_bytes=res.memory_limit or 0)
        network = sb.linux.security_context.namespace_options.network
        nsopt = pb.NamespaceOption(network=network, pid=_NS_MODES.get(config.pid, pb.CONTAINER),
                                   ipc=_NS_MODES.get(config.ipc, pb.POD),
                                   target_id=config.pid_target)
        security = pb.LinuxContainerSecurityContext(
            capabilities=pb.Capability(add_capabilities=config.cap_add,
                                       drop_capabilities=config.cap_drop),
            privileged=config.privileged, namespace_options=nsopt)
        mounts = [pb.Mount(container_path=m.container_path, host_path=m.host_path,
                           readonly=m.readonly) for m in config.mounts]
        hosts = self.hosts_path(config.labels.get(LABEL_POD_UID, "") or "-")
        if network != pb.NODE and not any(m.container_path == "/etc/hosts"
                                          for m in config.mounts) \
                and await asyncio.to_thread(os.path.exists, hosts):
            mounts.append(pb.Mount(container_path="/etc/hosts", host_path=hosts))
        proto = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=cname, attempt=restarts),
            image=pb.ImageSpec(image=normalize_image(config.image),
                               user_specified_image=config.image),
            command=config.command or [], args=config.args or [],
            working_dir=config.working_dir or "",
            envs=[pb.KeyValue(key=k, value=v) for k, v in config.envs.items()],
            mounts=mounts,
            labels=config.labels, log_path=log_path,
            stdin=config.stdin, stdin_once=config.stdin_once, tty=config.tty,
            linux=pb.LinuxContainerConfig(resources=resources, security_context=security))
        try:
            r = await self._call(self.rt.CreateContainer, pb.CreateContainerRequest(
                pod_sandbox_id=sandbox.id, config=proto, sandbox_config=sb))
        except grpc.aio.AioRpcError as exc:
            raise ContainerCreateError(rpc_message(exc)) from exc
        cid = str(r.container_id)
        try:
            await self._call(self.rt.StartContainer, pb.StartContainerRequest(container_id=cid))
        except grpc.aio.AioRpcError as exc:
            # The container stays (created, with the error) so its restarts count like a crash's.
            raise ContainerCreateError(rpc_message(exc)) from exc
        return cid

    async def _is_sandbox(self, some_id: str) -> bool:
        if some_id in self._sandboxes:
            return True
        cached = self._cache.get(some_id)
        if cached is not None:
            return cached[1].is_sandbox
        r = await self._call(self.rt.ListPodSandbox, pb.ListPodSandboxRequest(
            filter=pb.PodSandboxFilter(id=some_id)))
        return bool(r.items)

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        grace = max(0, grace_seconds)
        try:
            if await self._is_sandbox(container_id):
                await self._call(self.rt.StopPodSandbox, pb.StopPodSandboxRequest(
                    pod_sandbox_id=container_id), extra_timeout=grace)
            else:
                await self._call(self.rt.StopContainer, pb.StopContainerRequest(
                    container_id=container_id, timeout=grace), extra_timeout=grace)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        self._cache.pop(container_id, None)

    async def remove_container(self, container_id: str) -> None:
        try:
            if await self._is_sandbox(container_id):
                await self._call(self.rt.RemovePodSandbox, pb.RemovePodSandboxRequest(
                    pod_sandbox_id=container_id))
                self._sandboxes.pop(container_id, None)
            else:
                await self._call(self.rt.RemoveContainer, pb.RemoveContainerRequest(
                    container_id=container_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        self._cache.pop(container_id, None)

    async def remove_pod_dirs(self, pod_uid: str) -> None:
        if not pod_uid or "/" in pod_uid or pod_uid in (".", ".."):
            return

        def rm() -> None:
            shutil.rmtree(os.path.join(self.root_dir, "pods", pod_uid), True)
            for d in glob.glob(os.path.join(glob.escape(self.pod_logs_dir), f"*_{pod_uid}")):
                shutil.rmtree(d, True)
        await asyncio.to_thread(rm)

    # ---- observing -------------------------------------------------------

    def _info(self, labels: dict[str, str], **kw: Any) -> ContainerInfo:
        cname = labels.get(LABEL_CONTAINER_NAME, "")
        name = (f"k8s_{cname}_{labels.get(LABEL_POD_NAME, '')}_"
                f"{labels.get(LABEL_POD_NAMESPACE, '')}_{labels.get(LABEL_POD_UID, '')}_"
                f"{labels.get(LABEL_RESTART_COUNT, '0')}")
        return ContainerInfo(
            name=name, pod_uid=labels.get(LABEL_POD_UID, ""),
            pod_name=labels.get(LABEL_POD_NAME, ""),
            pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""), container_name=cname,
            restart_count=int(labels.get(LABEL_RESTART_COUNT, "0") or 0),
            labels=dict(labels), **kw)

    def _from_container_status(self, st: Any) -> ContainerInfo:
        labels = dict(st.labels)
        state = _STATES.get(st.state, "unknown")
        reason = str(st.reason)
        error = "" if reason in ("", "Completed", "Error", "OOMKilled") else \
            (str(st.message) or reason)
        if state == "created" and st.message:
            error = str(st.message)
        return self._info(
            labels, id=str(st.id), is_sandbox=False, state=state,
            exit_code=int(st.exit_code) if state == "exited" else None,
            oom_killed=reason == "OOMKilled", error=error, created_at=st.created_at / 1e9,
            started_at=_ns_to_rfc3339(st.started_at), finished_at=_ns_to_rfc3339(st.finished_at),
            started_ts=st.started_at / 1e9 if st.started_at > 0 else 0.0,
            finished_ts=st.finished_at / 1e9 if st.finished_at > 0 else 0.0,
            image=str(st.image.user_specified_image or st.image.image),
            image_id=str(st.image_ref))

    def _from_sandbox_status(self, st: Any) -> ContainerInfo:
        labels = dict(st.labels)
        labels.setdefault(LABEL_CONTAINER_NAME, SANDBOX_NAME)
        labels.setdefault(LABEL_TYPE, TYPE_SANDBOX)
        ready = st.state == pb.SANDBOX_READY
        return self._info(
            labels, id=str(st.id), is_sandbox=True, state="running" if ready else "exited",
            exit_code=None if ready else 0, created_at=st.created_at / 1e9,
            started_at=_ns_to_rfc3339(st.created_at), started_ts=st.created_at / 1e9,
            ip=str(st.network.ip) or None)

    async def _container_info(self, cid: str, state: int) -> ContainerInfo | None:
        cached = self._cache.get(cid)
        if cached is not None and cached[0] == state and not cached[1].is_sandbox:
            return cached[1]
        try:
            r = await self._call(self.rt.ContainerStatus,
                                 pb.ContainerStatusRequest(container_id=cid))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        info = self._from_container_status(r.status)
        self._cache[cid] = (int(r.status.state), info)
        return info

    async def _sandbox_info(self, sid: str, state: int) -> ContainerInfo | None:
        cached = self._cache.get(sid)
        if cached is not None and cached[0] == state and cached[1].is_sandbox:
            return cached[1]
        try:
            r = await self._call(self.rt.PodSandboxStatus,
                                 pb.PodSandboxStatusRequest(pod_sandbox_id=sid))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        info = self._from_sandbox_status(r.status)
        self._cache[sid] = (int(r.status.state), info)
        return info

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        self._cache.pop(container_id, None)
        if container_id in self._sandboxes:
            return await self._sandbox_info(container_id, -1)
        got = await self._container_info(container_id, -1)
        if got is None:
            got = await self._sandbox_info(container_id, -1)
        return got

    async def list_containers(self, node: str, pod_uid: str | None = None) -> list[ContainerInfo]:
        selector = {LABEL_NODE: node}
        if pod_uid is not None:
            selector[LABEL_POD_UID] = pod_uid
        boxes, cs = await asyncio.gather(
            self._call(self.rt.ListPodSandbox, pb.ListPodSandboxRequest(
                filter=pb.PodSandboxFilter(label_selector=selector))),
            self._call(self.rt.ListContainers, pb.ListContainersRequest(
                filter=pb.ContainerFilter(label_selector=selector))))
        got = await asyncio.gather(
            *(self._sandbox_info(s.id, int(s.state)) for s in boxes.items),
            *(self._container_info(c.id, int(c.state)) for c in cs.containers))
        out = [g for g in got if g is not None]
        if pod_uid is None:
            seen = {g.id for g in out}
            for cid in [k for k in self._cache if k not in seen]:
                self._cache.pop(cid, None)
        return out

    # ---- logs ------------------------------------------------------------

    async def _log_path(self, container_id: str) -> str:
        try:
            r = await self._call(self.rt.ContainerStatus,
                                 pb.ContainerStatusRequest(container_id=container_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise KeyError(container_id) from exc
            raise
        return str(r.status.log_path)

    async def _running(self, container_id: str) -> bool:
        try:
            r = await self._call(self.rt.ContainerStatus,
                                 pb.ContainerStatusRequest(container_id=container_id))
        except grpc.aio.AioRpcError:
            return False
        return bool(r.status.state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED))

    async def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        path = await self._log_path(container_id)
        if not path:
            return

        def read_from(offset: int) -> bytes:
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    return f.read(4 * 1024 * 1024)
            except FileNotFoundError:
                return b""
        offset = 0
        first = True
        buf = b""
        running = True
        checked = 0.0
        loop = asyncio.get_running_loop()
        while True:
            chunk = await asyncio.to_thread(read_from, offset)
            offset += len(chunk)
            buf += chunk
            if first and len(chunk) == 4 * 1024 * 1024:
                continue  # the whole file first, so that tail counts from its end
            lines, used = render_log(buf, tail if first else None, timestamps, since)
            buf = buf[used:]
            first = False
            for line in lines:
                yield line
            if not follow:
                return
            if not chunk:
                # Follow until the container has ended and its output is read.
                if loop.time() - checked > 1.0:
                    checked = loop.time()
                    running = await self._running(container_id)
                if not running:
                    tail_chunk = await asyncio.to_thread(read_from, offset)
                    if not tail_chunk:
                        return
                    offset += len(tail_chunk)
                    buf += tail_chunk
                    continue
                await asyncio.sleep(0.1)

    # ---- exec ------------------------------------------------------------

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        secs = max(1, math.ceil(timeout))
        try:
            r = await self.rt.ExecSync(pb.ExecSyncRequest(
                container_id=container_id, cmd=command, timeout=secs), timeout=timeout + 5)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED or "timeout" in (
                    exc.details() or "").lower():
                raise TimeoutError(str(exc.details())) from exc
            if exc.code() in _UNREACHABLE:
                raise RuntimeUnavailable(rpc_message(exc)) from exc
            return ExecResult(exit_code=-1, output=rpc_message(exc))
        out = (bytes(r.stdout) + bytes(r.stderr)).decode(errors="replace")
        return ExecResult(exit_code=int(r.exit_code), output=out)

    async def exec_stream(self, container_id: str, command: list[str], stdin: bool,
                          tty: bool) -> ExecSession:
        try:
            r = await self._call(self.rt.Exec, pb.ExecRequest(
                container_id=container_id, cmd=command, tty=tty, stdin=stdin, stdout=True,
                stderr=not tty))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise KeyError(container_id) from exc
            raise ExecError(rpc_message(exc)) from exc
        return await open_stream(str(r.url), stdin, not tty, tty, attach=False)

    async def attach_stream(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        try:
            r = await self._call(self.rt.Attach, pb.AttachRequest(
                container_id=container_id, stdin=stdin, tty=tty, stdout=True, stderr=not tty))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise KeyError(container_id) from exc
            raise ExecError(rpc_message(exc)) from exc
        return await open_stream(str(r.url), stdin, not tty, tty, attach=True)

    # ---- stats -----------------------------------------------------------

    async def container_stats(self, container_id: str) -> tuple[int, int] | None:
        """(cumulative CPU nanoseconds, working set bytes) from CRI ContainerStats."""
        try:
            r = await self._call(self.rt.ContainerStats,
                                 pb.ContainerStatsRequest(container_id=container_id))
        except grpc.aio.AioRpcError:
            return None
        s = r.stats
        return int(s.cpu.usage_core_nano_seconds.value), int(s.memory.working_set_bytes.value)

    # ---- log rotation ----------------------------------------------------

    def _container_log_path(self, labels: dict[str, str]) -> str:
        """Where start_container told the runtime to write the container's log."""
        return os.path.join(
            pod_log_dir(self.pod_logs_dir, labels.get(LABEL_POD_NAMESPACE, ""),
                        labels.get(LABEL_POD_NAME, ""), labels.get(LABEL_POD_UID, "")),
            labels.get(LABEL_CONTAINER_NAME, ""), f"{labels.get(LABEL_RESTART_COUNT, '0')}.log")

    async def rotate_logs(self, running: list[tuple[str, dict[str, str]]]) -> int:
        """Rotate the log of every running container (id, labels) grown past
        ``log_max_size``: the file moves to ``<log>.<time>``, the runtime reopens the log
        (ReopenContainerLog), and rotated files beyond ``log_max_files - 1`` are removed.
        Returns how many were rotated."""
        rotated = 0
        for cid, labels in running:
            path = self._container_log_path(labels)
            try:
                size = (await asyncio.to_thread(os.stat, path)).st_size
            except OSError:
                continue
            if size <= self.log_max_size:
                continue
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S.%f")
            target = f"{path}.{stamp}"
            try:
                await asyncio.to_thread(os.rename, path, target)
            except OSError as exc:
                log.warning("rotating %s: %s", path, exc)
                continue
            try:
                await self._call(self.rt.ReopenContainerLog,
                                 pb.ReopenContainerLogRequest(container_id=cid))
            except (grpc.aio.AioRpcError, RuntimeUnavailable) as exc:
                # As the kubelet: put the file back so that the runtime keeps writing it.
                log.warning("reopening the log of %s: %s", cid, exc)
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(os.rename, target, path)
                continue
            rotated += 1

            def prune(path: str = path) -> None:
                old = sorted(glob.glob(glob.escape(path) + ".*"))
                for f in old[:max(0, len(old) - (self.log_max_files - 1))]:
                    with contextlib.suppress(OSError):
                        os.unlink(f)
            await asyncio.to_thread(prune)
        return rotated

    # ---- events ----------------------------------------------------------

    async def watch_events(self, node: str) -> AsyncIterator[tuple[str, str]]:
        """State changes of the node's containers and sandboxes, by listing them every
        ``event_poll`` seconds (containerd 1.6 has no CRI event stream)."""
        known: dict[str, tuple[str, int]] = {}  # id -> (pod uid, state)
        loop = asyncio.get_running_loop()
        connected = False
        selector = {LABEL_NODE: node}
        while not self._closed:
            try:
                boxes, cs = await asyncio.gather(
                    self._call(self.rt.ListPodSandbox, pb.ListPodSandboxRequest(
                        filter=pb.PodSandboxFilter(label_selector=selector)), timeout=10.0),
                    self._call(self.rt.ListContainers, pb.ListContainersRequest(
                        filter=pb.ContainerFilter(label_selector=selector)), timeout=10.0))
            except (RuntimeUnavailable, grpc.aio.AioRpcError) as exc:
                if connected:
                    log.debug("CRI event poll: %s", exc)
                    connected = False
                    yield "", "disconnected"
                await asyncio.sleep(min(5.0, self.event_poll * 2))
                continue
            if not connected:
                connected = True
                yield "", "reconnected"
            now: dict[str, tuple[str, int]] = {}
            for s in boxes.items:
                now["s" + s.id] = (s.labels.get(LABEL_POD_UID, ""), int(s.state))
            for c in cs.containers:
                now["c" + c.id] = (c.labels.get(LABEL_POD_UID, ""), int(c.state))
            for key, (uid, state) in now.items():
                before = known.get(key)
                if before is None or before[1] != state:
                    if key[0] == "s":
                        action = "start" if state == pb.SANDBOX_READY else "die"
                    else:
                        action = _ACTIONS.get(state, "update")
                    if uid:
                        yield uid, action
            for key, (uid, _state) in known.items():
                if key not in now and uid:
                    yield uid, "destroy"
            known = now
            if loop.time() - self._log_checked >= self.log_check_seconds:
                self._log_checked = loop.time()
                try:
                    await self.rotate_logs([(c.id, dict(c.labels)) for c in cs.containers
                                            if c.state == pb.CONTAINER_RUNNING])
                except Exception:
                    log.exception("container log rotation failed")
            await asyncio.sleep(self.event_poll)


def remove_all_sandboxes(endpoint: str, timeout: float = 60.0) -> None:
    """Stop and remove every pod sandbox of a CRI runtime (test and benchmark clean-up)."""
    async def run() -> None:
        rt = CRIRuntime(endpoint, request_timeout=timeout)
        try:
            r = await rt._call(rt.rt.ListPodSandbox, pb.ListPodSandboxRequest())
            for s in r.items:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await rt._call(rt.rt.StopPodSandbox,
                                   pb.StopPodSandboxRequest(pod_sandbox_id=s.id))
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await rt._call(rt.rt.RemovePodSandbox,
                                   pb.RemovePodSandboxRequest(pod_sandbox_id=s.id))
        finally:
            await rt.close()
    asyncio.run(run())
