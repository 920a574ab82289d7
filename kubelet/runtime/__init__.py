"""Container runtimes behind one interface: Docker for real nodes, fake for hollow ones."""

from kubelet.runtime.base import (
    ContainerConfig,
    ContainerInfo,
    ContainerRuntime,
    ExecResult,
    ImagePullError,
    PodSandboxConfig,
    RuntimeUnavailable,
    SandboxInfo,
)

__all__ = [
    "ContainerConfig", "ContainerInfo", "ContainerRuntime", "ExecResult", "ImagePullError",
    "PodSandboxConfig", "RuntimeUnavailable", "SandboxInfo",
]
