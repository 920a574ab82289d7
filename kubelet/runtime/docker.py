"""The Docker runtime: pods as a pause container plus app containers joined to it.

It executes the sandbox and container configs the kubelet decided
(kubelet/containerconfig.py): names, labels, environment, mounts, resources and
cgroup parent arrive ready; what is Docker's own here is how they are spelled to the
daemon, and whether the daemon's cgroup driver can take a cgroup parent path.

Connections: slow work never holds what fast work needs. The docker SDK blocks, so
calls run on thread pools, each with a docker client whose connection pool is as large
as the threads that use it (no "Connection pool is full" with a discarded connection):
the lifecycle pool (create, start, remove, inspect, list: quick calls), the slow pool
(stops, which last up to a grace period, and probes' execs), the image pool (image
inspects, which a flood of pods of a missing image makes by the hundred), and a client for streams
(logs, interactive exec and attach) each on a thread of its own. Pulls use no thread
and no pooled connection: each is one asyncio request to the daemon on a connection
of its own, read line by line (``--image-pull-progress-deadline`` between two lines),
and cancelling it closes the connection, which makes the daemon abandon the pull.
Every call is bounded by ``--runtime-request-timeout`` (a stop by that plus its grace
period), as the kubelet's CRI client bounds each call by its context.

The pause container owns the network and IPC
namespaces (IPC mode ``shareable``) on one bridge network shared by every kubelet
of the host, so pods on different nodes of one host reach each other by IP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import docker
import docker.auth
import docker.errors
import orjson
import requests.exceptions

from api.timeutil import go_duration_ms
from kubelet.runtime import docker_exec
from kubelet.runtime.base import (
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_TYPE,
    TYPE_SANDBOX,
    ContainerConfig,
    ContainerCreateError,
    ContainerInfo,
    ExecResult,
    ExecSession,
    ImagePullError,
    PodSandboxConfig,
    RuntimeUnavailable,
    SandboxInfo,
    normalize_image,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

POD_NETWORK = "minik8s-pods"
PAUSE_IMAGE = "minik8s/pause:3.9"
API_VERSION = "1.41"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _docker_time(s: str | None) -> str | None:
    """Docker's nanosecond RFC 3339 -> Kubernetes' whole-second form (None for the zero time)."""
    if not s or s.startswith("0001-01-01"):
        return None
    base = s.split(".")[0].rstrip("Z")
    if "+" in base[10:]:
        base = base[: 10 + base[10:].index("+")]
    try:
        t = datetime.fromisoformat(base).replace(tzinfo=UTC)
    except ValueError:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _docker_ts(s: str | None) -> float:
    """Docker's nanosecond RFC 3339 -> unix seconds (0 for the zero time)."""
    if not s or s.startswith("0001-01-01"):
        return 0.0
    main, _, frac = s.rstrip("Z").partition(".")
    frac = frac.split("+")[0].split("-")[0]
    try:
        t = datetime.fromisoformat(main).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0
    return t + (float("0." + frac) if frac.isdigit() else 0.0)


def _message(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


def _error_text(body: bytes) -> str:
    """The message of a daemon error body ({"message": ...}), else the body as text."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()
    return str(doc.get("message") or "") if isinstance(doc, dict) else str(doc)


def _stop_pump(stop: threading.Event, holder: dict[str, Any]) -> None:
    """End a thread pumping a daemon stream (logs, events) into the event loop: tell it
    to stop, and close its stream so that a blocking read returns."""
    stop.set()
    s = holder.get("stream")
    if s is not None:
        with contextlib.suppress(Exception):
            s.close()


def _namespaces_and_security(config: ContainerConfig, sandbox_ns: str) -> dict[str, Any]:
    """The create arguments of a container's IPC and process namespaces (as dockershim
    set them: the sandbox's, the node's, or a target container's) and its privileges."""
    out: dict[str, Any] = {"ipc_mode": "host" if config.ipc == "NODE" else sandbox_ns}
    if config.pid == "NODE":
        out["pid_mode"] = "host"
    elif config.pid == "POD":
        out["pid_mode"] = sandbox_ns
    elif config.pid == "TARGET" and config.pid_target:
        out["pid_mode"] = f"container:{config.pid_target}"
    if config.privileged:
        out["privileged"] = True
    if config.cap_add:
        out["cap_add"] = config.cap_add
    if config.cap_drop:
        out["cap_drop"] = config.cap_drop
    return out


class DockerRuntime:
    """ContainerRuntime on a Docker daemon (API 1.41)."""

    name = "docker"

    def __init__(self, base_url: str = "unix:///var/run/docker.sock", root_dir: str = "/var/lib/minik8s",
                 pause_image: str = PAUSE_IMAGE, network: str = POD_NETWORK,
                 workers: int = 16, use_cgroup_parent: bool = True,
                 request_timeout: float = 120.0, slow_workers: int = 64) -> None:
        self.base_url = base_url
        self.root_dir = root_dir
        self.pause_image = pause_image
        self.network = network
        self.request_timeout = request_timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")
        # Calls that last as long as a grace period or a probe get their own threads and
        # connections, so a slow pod never holds a worker the quick calls of others need.
        self._slow_pool = ThreadPoolExecutor(max_workers=slow_workers,
                                             thread_name_prefix="docker-slow")
        # A fixed API version: negotiating one would need the daemon up at construction,
        # and the kubelet must start (NotReady) while Docker is down. 1.41 = Docker 20.10,
        # which newer daemons still speak. A client's connection pool keeps as many idle
        # connections as the threads that use it can open.
        timeout = max(1, int(request_timeout))
        self._client = docker.DockerClient(base_url=base_url, timeout=timeout, version=API_VERSION,
                                           max_pool_size=workers)
        self._slow_api = docker.APIClient(base_url=base_url, timeout=timeout, version=API_VERSION,
                                          max_pool_size=slow_workers)
        # Streams (logs, exec, attach) hold a connection each for as long as they last,
        # on threads of their own: their number has no bound but the callers'.
        self._stream_api = docker.APIClient(base_url=base_url, timeout=timeout,
                                            version=API_VERSION, max_pool_size=1024)
        self._pull_session: aiohttp.ClientSession | None = None
        # Image inspects (the pull manager's, once per pod start) on a pool of their own: a
        # flood of pods of a missing image never queues ahead of the lifecycle calls.
        self._image_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker-image")
        self._image_api = docker.APIClient(base_url=base_url, timeout=timeout,
                                           version=API_VERSION, max_pool_size=4)
        self._network_ready = False
        self._use_cgroup_parent = use_cgroup_parent
        self._cgroup_checked = False
        # Inspect results, kept while the container's state does not change: a relist of
        # a quiet node then costs one list call and no inspects.
        self._inspect_cache: dict[str, tuple[str, ContainerInfo]] = {}
        self._closed = False

    # ---- plumbing --------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, slow: bool = False,
                   extra_timeout: float = 0.0, pool: ThreadPoolExecutor | None = None,
                   **kwargs: Any) -> T:
        """``fn`` on the lifecycle (or slow, or given) pool, bounded by
        --runtime-request-timeout (plus ``extra_timeout``, a stop's grace period)."""
        loop = asyncio.get_running_loop()
        pool = pool or (self._slow_pool if slow else self._pool)
        limit = self.request_timeout + extra_timeout
        try:
            return await asyncio.wait_for(loop.run_in_executor(pool, lambda: fn(*args, **kwargs)),
                                          limit)
        except TimeoutError:
            raise RuntimeUnavailable(
                f"{getattr(fn, '__name__', 'runtime call')}: context deadline exceeded (no "
                f"answer from the Docker daemon in {limit:g}s, --runtime-request-timeout)"
            ) from None
        except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
            raise RuntimeUnavailable(f"cannot reach the Docker daemon at {self.base_url}: {exc}") from exc

    @property
    def api(self) -> Any:
        return self._client.api

    async def version(self) -> str:
        v = await self._run(self.api.version)
        return str(v.get("Version", "unknown"))

    async def ping(self) -> bool:
        try:
            return bool(await self._run(self.api.ping))
        except Exception:
            return False

    async def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._slow_pool.shutdown(wait=False, cancel_futures=True)
        self._image_pool.shutdown(wait=False, cancel_futures=True)
        if self._pull_session is not None:
            await self._pull_session.close()
            self._pull_session = None
        for c in (self._client, self._slow_api, self._stream_api, self._image_api):
            with contextlib.suppress(Exception):
                c.close()

    # ---- images ----------------------------------------------------------

    async def image_id(self, image: str) -> str | None:
        def get() -> str | None:
            try:
                return str(self._image_api.inspect_image(normalize_image(image))["Id"])
            except docker.errors.ImageNotFound:
                return None
        return await self._run(get, pool=self._image_pool)

    async def image_size(self, image_id: str) -> int:
        def get() -> int:
            try:
                return int(self._image_api.inspect_image(image_id).get("Size") or 0)
            except docker.errors.ImageNotFound:
                return 0
        return await self._run(get, pool=self._image_pool)

    def _pull_target(self) -> tuple[aiohttp.ClientSession, str] | None:
        """The pulls' session and the daemon's base URL (None: a daemon address that only
        the docker SDK speaks, such as ssh:// or TLS)."""
        unix = self.base_url.startswith("unix://")
        if unix:
            base = "http://docker"
        elif self.base_url.startswith(("tcp://", "http://")):
            base = "http://" + self.base_url.split("://", 1)[1]
        else:
            return None
        if self._pull_session is None or self._pull_session.closed:
            # A connection per pull, closed after it (force_close): cancelling a pull
            # closes its connection, and the daemon then abandons that pull.
            connector: aiohttp.BaseConnector = (
                aiohttp.UnixConnector(path=self.base_url[len("unix://"):], force_close=True,
                                      limit=0) if unix
                else aiohttp.TCPConnector(force_close=True, limit=0))
            # No overall timeout: a pull lasts as long as it makes progress.
            self._pull_session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        return self._pull_session, f"{base}/v{API_VERSION}"

    async def pull_image(self, image: str, progress_deadline: float | None = None) -> str:
        ref = normalize_image(image)
        if "@" in ref:
            repo, _, tag = ref.partition("@")
        else:
            repo, _, tag = ref.rpartition(":")
        target = self._pull_target()
        if target is None:
            return await self._pull_blocking(repo, tag, ref)
        session, base = target
        headers = {}
        with contextlib.suppress(Exception):
            auth = docker.auth.get_config_header(self.api, docker.auth.resolve_repository_name(repo)[0])
            if auth:
                headers["X-Registry-Auth"] = auth if isinstance(auth, str) else auth.decode()
        deadline = progress_deadline or None
        loop = asyncio.get_running_loop()
        latest = ""
        try:
            async with asyncio.timeout(deadline) as limit:
                async with session.post(f"{base}/images/create", headers=headers,
                                        params={"fromImage": repo, "tag": tag}) as resp:
                    if resp.status >= 400:
                        body = await resp.read()
                        raise ImagePullError(_error_text(body) or f"HTTP {resp.status}")
                    # The progress lines, drained to the end: the error (if any) is the last.
                    async for line in resp.content:
                        if deadline is not None:
                            limit.reschedule(loop.time() + deadline)
                        try:
                            msg = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            continue
                        if not isinstance(msg, dict):
                            continue
                        if msg.get("error"):
                            raise ImagePullError(str(msg["error"]))
                        latest = str(msg.get("status") or latest)
        except TimeoutError:
            raise ImagePullError(
                f'Cancel pulling image "{ref}" because of no progress for '
                f'{go_duration_ms(deadline or 0)}, latest progress: "{latest}"') from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise RuntimeUnavailable(f"cannot reach the Docker daemon at {self.base_url}: {exc}") from exc
        got = await self.image_id(ref)
        if got is None:
            raise ImagePullError(f"image {ref} is not present after its pull")
        return got

    async def _pull_blocking(self, repo: str, tag: str, ref: str) -> str:
        """The docker SDK's pull, for daemon addresses aiohttp cannot reach."""
        def pull() -> str:
            try:
                for line in self._slow_api.pull(repo, tag=tag or None, stream=True, decode=True):
                    if isinstance(line, dict) and line.get("error"):
                        raise ImagePullError(str(line["error"]))
            except docker.errors.APIError as exc:
                raise ImagePullError(_message(exc)) from exc
            return str(self._slow_api.inspect_image(ref)["Id"])
        return await self._run(pull, slow=True)

    # ---- sandboxes -------------------------------------------------------

    def _ensure_network(self) -> None:
        if self._network_ready:
            return
        if not self.api.networks(names=[self.network]):
            try:
                self.api.create_network(self.network, driver="bridge",
                                        labels={"minik8s.network": "pods"})
            except docker.errors.APIError as exc:
                # Another kubelet of this host created it first.
                if exc.status_code != 409 and not self.api.networks(names=[self.network]):
                    raise
        self._network_ready = True

    def _cgroup_parent(self, requested: str | None) -> str | None:
        """The kubelet's cgroup parent, when this daemon can take it."""
        if not requested or not self._use_cgroup_parent:
            return None
        if not self._cgroup_checked:
            info = self.api.info()
            # A cgroup parent path like /kubepods/burstable is only valid with cgroupfs;
            # systemd wants slice names, so there we let Docker choose.
            self._use_cgroup_parent = info.get("CgroupDriver") == "cgroupfs"
            self._cgroup_checked = True
            if not self._use_cgroup_parent:
                return None
        return requested

    def _create(self, image: str, name: str, node: str, **kwargs: Any) -> Any:
        """containers.create; a leftover of ours holding the name (a create that raced a
        crash of the kubelet) is removed and the create tried once more."""
        try:
            return self._client.containers.create(image, name=name, **kwargs)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            try:
                old = self.api.inspect_container(name)
            except docker.errors.NotFound:
                raise exc from None
            if (old.get("Config", {}).get("Labels") or {}).get(LABEL_NODE) != node:
                raise
            self.api.remove_container(old["Id"], force=True)
            return self._client.containers.create(image, name=name, **kwargs)

    def resolv_conf_path(self, pod_uid: str) -> str:
        """The pod's resolv.conf, when the kubelet gave the sandbox a DNS config."""
        return os.path.join(self.root_dir, "pods", pod_uid, "resolv.conf")

    def _write_resolv_conf(self, config: PodSandboxConfig) -> None:
        """As containerd's CRI does: the pod's resolv.conf is a file of the pod that every
        app container bind-mounts at /etc/resolv.conf (start_container). Docker's own
        (HostConfig Dns) cannot be used: on a user-defined network such as the pods' it
        always names the embedded resolver 127.0.0.11, never the cluster DNS."""
        uid = config.labels.get(LABEL_POD_UID, "")
        if not uid or "/" in uid or uid in (".", ".."):
            return
        path = self.resolv_conf_path(uid)
        if config.dns_config is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(config.dns_config.resolv_conf())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    async def run_sandbox(self, config: PodSandboxConfig) -> SandboxInfo:
        def run() -> SandboxInfo:
            self._ensure_network()
            try:
                self._write_resolv_conf(config)
            except OSError as exc:
                raise ContainerCreateError(f"cannot write the pod's resolv.conf: {exc}") from exc
            ports: dict[str, Any] = {}
            for p in config.port_mappings:
                key = f"{p.container_port}/{p.protocol}"
                ports[key] = (p.host_ip, p.host_port) if p.host_ip else p.host_port
            kwargs: dict[str, Any] = {}
            if config.host_network:
                # The pod shares the node's network: no bridge, no port mapping, no hostname.
                kwargs["network_mode"] = "host"
            else:
                # Docker writes /etc/hosts as "<ip> <hostname>.<domainname> <hostname>" (the
                # line the kubelet writes for a pod with a subdomain); the app containers,
                # in this container's network namespace, share its hosts and hostname.
                kwargs.update(network=self.network, ports=ports or None, hostname=config.hostname,
                              domainname=config.domainname or None)
            parent = self._cgroup_parent(config.cgroup_parent)
            if parent:
                kwargs["cgroup_parent"] = parent
            if config.host_pid:
                kwargs["pid_mode"] = "host"
            try:
                c = self._create(
                    self.pause_image, name=config.name, node=config.labels.get(LABEL_NODE, ""),
                    labels=config.labels, ipc_mode="host" if config.host_ipc else "shareable",
                    detach=True, **kwargs)
            except docker.errors.ImageNotFound as exc:
                raise ContainerCreateError(
                    f"pause image {self.pause_image} is missing: run deploy/images/pause/build.sh "
                    f"({_message(exc)})") from exc
            except docker.errors.APIError as exc:
                raise ContainerCreateError(_message(exc)) from exc
            try:
                c.start()
            except docker.errors.APIError as exc:
                with contextlib.suppress(Exception):
                    c.remove(force=True)
                raise ContainerCreateError(_message(exc)) from exc
            c.reload()
            nets = c.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
            ip = "" if config.host_network else (nets.get(self.network) or {}).get("IPAddress", "")
            return SandboxInfo(id=c.id, ip=ip)
        return await self._run(run)

    # ---- app containers --------------------------------------------------

    async def start_container(self, config: ContainerConfig, sandbox: SandboxInfo) -> str:
        def run() -> str:
            env = [f"{k}={v}" for k, v in config.envs.items()]
            res = config.resources
            kwargs: dict[str, Any] = {}
            if res.memory_limit:
                kwargs["mem_limit"] = res.memory_limit
                kwargs["memswap_limit"] = res.memory_limit
            if res.cpu_quota:
                kwargs["cpu_period"] = res.cpu_period
                kwargs["cpu_quota"] = res.cpu_quota
            if res.cpu_shares:
                kwargs["cpu_shares"] = res.cpu_shares
            parent = self._cgroup_parent(config.cgroup_parent)
            if parent:
                kwargs["cgroup_parent"] = parent
            ns = f"container:{sandbox.id}"
            kwargs.update(_namespaces_and_security(config, ns))
            binds = [f"{m.host_path}:{m.container_path}:{'ro' if m.readonly else 'rw'}"
                     for m in config.mounts]
            resolv = self.resolv_conf_path(config.labels.get(LABEL_POD_UID, "") or "-")
            if os.path.exists(resolv) and not any(
                    m.container_path == "/etc/resolv.conf" for m in config.mounts):
                binds.append(f"{resolv}:/etc/resolv.conf:rw")
            try:
                c = self._create(
                    normalize_image(config.image), name=config.name,
                    node=config.labels.get(LABEL_NODE, ""),
                    entrypoint=config.command, command=config.args,
                    environment=env or None, working_dir=config.working_dir,
                    labels=config.labels, network_mode=ns, volumes=binds or None,
                    log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}},
                    stdin_open=config.stdin, tty=config.tty,
                    # docker-py sets StdinOnce only for a non-detached create (which also
                    # sets the Attach* flags, meaningless to the API): stdinOnce closes the
                    # process's stdin when the first attach ends (kubectl run -i).
                    detach=not (config.stdin and config.stdin_once), **kwargs)
            except docker.errors.APIError as exc:
                raise ContainerCreateError(_message(exc)) from exc
            except OSError as exc:
                raise ContainerCreateError(str(exc)) from exc
            try:
                c.start()
            except docker.errors.APIError as exc:
                # The container stays (state "created" with the error) so that its status and
                # restart count are visible like a crash's.
                raise ContainerCreateError(_message(exc)) from exc
            return str(c.id)
        return await self._run(run)

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        def stop() -> None:
            try:
                self._slow_api.stop(container_id, timeout=max(0, grace_seconds))
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 304:
                    raise
        await self._run(stop, slow=True, extra_timeout=max(0, grace_seconds))
        self._inspect_cache.pop(container_id, None)

    async def remove_container(self, container_id: str) -> None:
        def rm() -> None:
            try:
                self.api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "already in progress" not in _message(exc):
                    raise
        await self._run(rm)
        self._inspect_cache.pop(container_id, None)

    async def remove_pod_dirs(self, pod_uid: str) -> None:
        if not pod_uid or "/" in pod_uid or pod_uid in (".", ".."):
            return
        path = os.path.join(self.root_dir, "pods", pod_uid)
        await self._run(shutil.rmtree, path, True)

    # ---- observing -------------------------------------------------------

    def _from_inspect(self, a: dict[str, Any]) -> ContainerInfo:
        labels = a.get("Config", {}).get("Labels") or {}
        st = a.get("State", {}) or {}
        status = str(st.get("Status", "unknown"))
        nets = a.get("NetworkSettings", {}).get("Networks", {}) or {}
        ip = (nets.get(self.network) or {}).get("IPAddress") or None
        created_ts = _docker_ts(a.get("Created"))
        return ContainerInfo(
            id=a["Id"], name=str(a.get("Name", "")).lstrip("/"),
            pod_uid=labels.get(LABEL_POD_UID, ""), pod_name=labels.get(LABEL_POD_NAME, ""),
            pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""),
            container_name=labels.get(LABEL_CONTAINER_NAME, ""),
            restart_count=int(labels.get(LABEL_RESTART_COUNT, "0") or 0),
            is_sandbox=labels.get(LABEL_TYPE) == TYPE_SANDBOX,
            state=status, exit_code=st.get("ExitCode"), oom_killed=bool(st.get("OOMKilled")),
            error=str(st.get("Error") or ""), created_at=created_ts,
            started_at=_docker_time(st.get("StartedAt")), finished_at=_docker_time(st.get("FinishedAt")),
            started_ts=_docker_ts(st.get("StartedAt")), finished_ts=_docker_ts(st.get("FinishedAt")),
            image=str(a.get("Config", {}).get("Image", "")), image_id=str(a.get("Image", "")),
            ip=ip, labels=dict(labels))

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        def get() -> ContainerInfo | None:
            try:
                return self._from_inspect(self.api.inspect_container(container_id))
            except docker.errors.NotFound:
                return None
        return await self._run(get)

    async def list_containers(self, node: str, pod_uid: str | None = None) -> list[ContainerInfo]:
        def ls() -> list[ContainerInfo]:
            out: list[ContainerInfo] = []
            seen: set[str] = set()
            labels = [f"{LABEL_NODE}={node}"]
            if pod_uid is not None:
                labels.append(f"{LABEL_POD_UID}={pod_uid}")
            for s in self.api.containers(all=True, filters={"label": labels}):
                cid = s["Id"]
                seen.add(cid)
                # A container's state only moves forward (created, running, exited), and
                # the kubelet never restarts one in place, so the state is the cache key.
                key = str(s.get("State"))
                cached = self._inspect_cache.get(cid)
                if cached is not None and cached[0] == key:
                    out.append(cached[1])
                    continue
                try:
                    info = self._from_inspect(self.api.inspect_container(cid))
                except docker.errors.NotFound:
                    continue
                self._inspect_cache[cid] = (key, info)
                out.append(info)
            if pod_uid is None:
                for cid in list(self._inspect_cache):
                    if cid not in seen:
                        self._inspect_cache.pop(cid, None)
            return out
        return await self._run(ls)

    async def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=256)
        holder: dict[str, Any] = {}
        stop = threading.Event()

        def put(item: bytes | BaseException | None) -> None:
            coro = queue.put(item)
            try:
                fut = asyncio.run_coroutine_threadsafe(coro, loop)
            except RuntimeError:
                coro.close()  # the loop is closed: never a coroutine left unawaited
                return
            with contextlib.suppress(Exception):
                fut.result(timeout=60)

        def pump() -> None:
            try:
                stream = self._stream_api.logs(container_id, stdout=True, stderr=True, stream=True,
                                       follow=follow, timestamps=timestamps,
                                       tail="all" if tail is None else tail,
                                       since=since if since is None or since > 0 else None)
                holder["stream"] = stream
                for chunk in stream:
                    if stop.is_set():
                        break
                    put(chunk)
            except Exception as exc:
                if not stop.is_set():
                    put(exc)
            finally:
                put(None)

        # A followed stream lasts as long as the reader: its own thread, not a pool worker.
        threading.Thread(target=pump, daemon=True, name="docker-logs").start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, docker.errors.NotFound):
                        raise KeyError(container_id) from item
                    raise item
                yield item
        finally:
            _stop_pump(stop, holder)
            # Unblock a pump stuck on a full queue.
            while not queue.empty():
                queue.get_nowait()

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        api = self._slow_api

        def run() -> ExecResult:
            e = api.exec_create(container_id, command, stdout=True, stderr=True)
            out = api.exec_start(e["Id"], stream=False)
            code = api.exec_inspect(e["Id"]).get("ExitCode")
            text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
            return ExecResult(exit_code=int(code if code is not None else -1), output=text)
        # A probe's command may run as long as its timeout: the slow pool's thread.
        return await asyncio.wait_for(self._run(run, slow=True), timeout)

    async def exec_stream(self, container_id: str, command: list[str], stdin: bool,
                          tty: bool) -> ExecSession:
        return await docker_exec.start(self._stream_api, self._run, container_id, command, stdin,
                                       tty)

    async def attach_stream(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        return await docker_exec.attach(self._stream_api, self._run, container_id, stdin, tty)

    async def watch_events(self, node: str) -> AsyncIterator[tuple[str, str]]:
        """Container events of this node; reconnects with ``since`` after a daemon restart."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}

        def pump() -> None:
            since: float | None = None
            delay = 0.5
            while not stop.is_set() and not self._closed:
                client = None
                try:
                    client = docker.APIClient(base_url=self.base_url, timeout=None,
                                              version=API_VERSION)
                    stream = client.events(since=since, decode=True, filters={
                        "type": "container", "label": f"{LABEL_NODE}={node}"})
                    holder["stream"] = stream
                    # Anything between the last event and this connection comes from
                    # the relist the kubelet does when it sees "reconnected".
                    loop.call_soon_threadsafe(queue.put_nowait, ("", "reconnected"))
                    delay = 0.5
                    for ev in stream:
                        if stop.is_set():
                            break
                        since = float(ev.get("timeNano", 0)) / 1e9 or since
                        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                        uid = attrs.get(LABEL_POD_UID, "")
                        action = str(ev.get("Action") or ev.get("status") or "")
                        if uid:
                            loop.call_soon_threadsafe(queue.put_nowait, (uid, action))
                except Exception as exc:
                    if stop.is_set():
                        break
                    log.debug("docker event stream: %s; reconnecting in %.1fs", exc, delay)
                finally:
                    if client is not None:
                        with contextlib.suppress(Exception):
                            client.close()
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, ("", "disconnected"))
                since = since or time.time()
                stop.wait(delay)
                delay = min(delay * 2, 5.0)

        threading.Thread(target=pump, daemon=True, name="docker-events").start()
        try:
            while True:
                yield await queue.get()
        finally:
            _stop_pump(stop, holder)
