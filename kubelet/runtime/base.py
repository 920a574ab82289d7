"""The ContainerRuntime interface the kubelet drives, what it is given and what it returns.

As in the CRI, the kubelet decides and the runtime executes: a ``PodSandboxConfig`` or
``ContainerConfig`` (built by kubelet/containerconfig.py) says everything about what
to create, and a runtime never looks at a pod. Everything the kubelet knows about
running containers can be rebuilt from what a runtime lists (labels carry pod uid,
names and restart counts), so a restarted kubelet adopts what it finds instead of
starting over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

# Label keys, as the dockershim wrote them, plus the node that owns the container.
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
LABEL_TYPE = "io.kubernetes.docker.type"  # "podsandbox" or "container"
LABEL_NODE = "minik8s.node"
LABEL_GRACE = "io.kubernetes.pod.terminationGracePeriod"

SANDBOX_NAME = "POD"
TYPE_SANDBOX = "podsandbox"
TYPE_CONTAINER = "container"


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into a container (CRI ``Mount``)."""

    container_path: str
    host_path: str
    readonly: bool = False


@dataclass(frozen=True)
class PortMapping:
    """A container port published on the host (CRI ``PortMapping``)."""

    container_port: int
    protocol: str  # "tcp" or "udp", as Docker spells it
    host_port: int
    host_ip: str | None = None


@dataclass(frozen=True)
class LinuxContainerResources:
    """cgroup settings of a container (CRI ``LinuxContainerResources``); None = unset."""

    cpu_period: int | None = None  # microseconds
    cpu_quota: int | None = None  # microseconds per period
    cpu_shares: int | None = None
    memory_limit: int | None = None  # bytes


@dataclass
class DNSConfig:
    """The pod's resolver configuration (CRI ``DNSConfig``), decided by the kubelet
    (kubelet/dns.py); the runtime writes it as the pod's /etc/resolv.conf."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def resolv_conf(self) -> str:
        """The file's text, as the CRI runtimes write it."""
        lines = [f"nameserver {s}" for s in self.servers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


@dataclass
class PodSandboxConfig:
    """Everything a runtime needs to run a pod's sandbox (CRI ``PodSandboxConfig``),
    decided by the kubelet (kubelet/containerconfig.py)."""

    name: str  # the runtime's name, e.g. k8s_POD_nginx_default_<uid>_0
    labels: dict[str, str]
    hostname: str
    host_network: bool = False
    host_pid: bool = False  # the node's process namespace (hostPID)
    host_ipc: bool = False  # the node's IPC namespace (hostIPC)
    port_mappings: list[PortMapping] = field(default_factory=list)
    cgroup_parent: str | None = None
    # The pod's resolv.conf; None keeps the runtime's default (Docker's, from the node's).
    dns_config: DNSConfig | None = None
    # <subdomain>.<ns>.svc.<cluster domain> when spec.subdomain is set: /etc/hosts then
    # names the pod's IP <hostname>.<domain> <hostname>, and `hostname -f` gives it.
    domainname: str = ""


@dataclass
class ContainerConfig:
    """Everything a runtime needs to create an app container (CRI ``ContainerConfig``),
    decided by the kubelet (kubelet/containerconfig.py): the runtime only executes it."""

    name: str  # the runtime's name, e.g. k8s_web_nginx_default_<uid>_0
    image: str  # as the pod spec gives it
    labels: dict[str, str]
    command: list[str] | None = None  # the entrypoint
    args: list[str] | None = None
    working_dir: str | None = None
    envs: dict[str, str] = field(default_factory=dict)  # in the order the container sees them
    mounts: list[Mount] = field(default_factory=list)
    resources: LinuxContainerResources = field(default_factory=LinuxContainerResources)
    cgroup_parent: str | None = None
    stdin: bool = False  # keep the container's stdin open for attach
    stdin_once: bool = False
    tty: bool = False
    # Namespaces (CRI NamespaceOption): the network is always the sandbox's; the IPC the
    # sandbox's, or the node's (NODE: hostIPC); the processes the container's own
    # (CONTAINER), the sandbox's (POD: shareProcessNamespace), the node's (NODE:
    # hostPID) or the runtime container ``pid_target``'s (TARGET: an ephemeral
    # container's targetContainerName).
    ipc: str = "POD"
    pid: str = "CONTAINER"
    pid_target: str = ""
    # securityContext (CRI LinuxContainerSecurityContext): privileged, capabilities.
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)


class RuntimeUnavailable(Exception):
    """The runtime (daemon) cannot be reached; the caller retries later."""


class ImagePullError(Exception):
    """Pulling failed (or policy Never with the image absent); ``str()`` is the daemon's message."""

    def __init__(self, message: str, reason: str = "ErrImagePull",
                 retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after  # seconds until a back-off ends (0: none)


class ContainerCreateError(Exception):
    """Creating or starting a container failed; ``str()`` is the daemon's message."""


@dataclass
class ContainerInfo:
    """One container as the runtime reports it (sandboxes included)."""

    id: str
    name: str  # the runtime's name, e.g. k8s_web_nginx_default_<uid>_0
    pod_uid: str
    pod_name: str
    pod_namespace: str
    container_name: str  # SANDBOX_NAME for the sandbox
    restart_count: int
    is_sandbox: bool
    state: str  # "created", "running", "exited", "unknown"
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    created_at: float = 0.0  # unix seconds, to order containers of one name
    started_at: str | None = None  # RFC 3339, whole seconds, as the status shows it
    finished_at: str | None = None
    started_ts: float = 0.0  # unix seconds, full precision, for back-off arithmetic
    finished_ts: float = 0.0
    image: str = ""
    image_id: str = ""
    ip: str | None = None  # sandboxes only
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def exited(self) -> bool:
        return self.state in ("exited", "dead")


@dataclass
class SandboxInfo:
    id: str
    ip: str


@dataclass
class ExecResult:
    exit_code: int
    output: str


class ExecSession(Protocol):
    """A running interactive exec (``kubectl exec``): stdin in, stdout/stderr out.

    ``output()`` yields (1, data) for stdout and (2, data) for stderr (with a tty all
    of it is stdout) and ends when the process has closed them; ``wait()`` then gives
    the exit code. ``close()`` releases the session whether or not it has finished.
    """

    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    async def close(self) -> None: ...


class ExecError(Exception):
    """The runtime could not start the command; ``str()`` is its message."""


class ContainerRuntime(Protocol):
    """What the kubelet needs from a container runtime. All calls are non-blocking."""

    name: str  # "docker" or "fake": the scheme of containerID

    async def version(self) -> str:
        """The runtime's version, e.g. ``20.10.24``."""
        ...

    async def ping(self) -> bool: ...

    async def image_id(self, image: str) -> str | None:
        """The id of ``image`` when it is present on the machine, else None."""
        ...

    async def pull_image(self, image: str, progress_deadline: float | None = None) -> str:
        """Pull ``image``; returns its id. Raises ImagePullError with the daemon's message,
        or when no progress was reported for ``progress_deadline`` seconds. Cancelling
        the call abandons the pull."""
        ...

    async def image_size(self, image_id: str) -> int:
        """The size in bytes of a present image (0 when unknown)."""
        ...

    async def run_sandbox(self, config: PodSandboxConfig) -> SandboxInfo:
        """Create and start the pod's sandbox (network, IPC); returns its id and IP."""
        ...

    async def start_container(self, config: ContainerConfig, sandbox: SandboxInfo) -> str:
        """Create and start an app container inside ``sandbox``; returns its id."""
        ...

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        """SIGTERM (or the image's stop signal), wait ``grace_seconds``, then SIGKILL."""
        ...

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self, node: str, pod_uid: str | None = None) -> list[ContainerInfo]:
        """Every container (any state) labelled with ``node`` (and ``pod_uid`` if given)."""
        ...

    async def inspect(self, container_id: str) -> ContainerInfo | None: ...

    def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr); ``since`` is a unix time.
        Raises KeyError when the container does not exist."""
        ...

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult: ...

    async def exec_stream(self, container_id: str, command: list[str], stdin: bool,
                          tty: bool) -> ExecSession:
        """Start ``command`` in the container for a client to drive (kubectl exec).
        Raises KeyError when the container does not exist, ExecError when it cannot run."""
        ...

    async def attach_stream(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        """Attach to the running container's own stdin/stdout/stderr (kubectl attach): an
        ExecSession whose output ends when the container does (``wait`` then gives 0: an
        attach reports no exit code). Stdin reaches the process only when the container
        was created with ``stdin``; ``resize`` resizes the container's tty. Raises
        KeyError when the container does not exist, ExecError when it is not running."""
        ...

    async def remove_pod_dirs(self, pod_uid: str) -> None:
        """Remove the pod's emptyDir volumes."""
        ...

    def watch_events(self, node: str) -> AsyncIterator[tuple[str, str]]:
        """(pod uid, action) for every container event on ``node``; reconnects by itself."""
        ...

    async def close(self) -> None: ...


def normalize_image(image: str) -> str:
    """``busybox`` -> ``busybox:latest``: what Docker stores and what Kubernetes shows."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


async def ensure_image(runtime: ContainerRuntime, image: str, policy: str) -> tuple[str, bool]:
    """Make ``image`` present per pull policy (Always / IfNotPresent / Never).

    Returns (image id, whether it was pulled). A failed pull of an image that is present
    anyway falls back to the local copy, so images built on the machine work without a
    registry; otherwise ImagePullError carries the daemon's message. (The pod worker does
    the same in steps, to record Pulling/Pulled events between them.)
    """
    present = await runtime.image_id(image)
    if policy == "Never" or (policy == "IfNotPresent" and present is not None):
        if present is None:
            raise ImagePullError(f'Container image "{normalize_image(image)}" is not present '
                                 "with pull policy of Never", "ErrImageNeverPull")
        return present, False
    try:
        return await runtime.pull_image(image), True
    except ImagePullError:
        if present is None:
            raise
        return present, False
