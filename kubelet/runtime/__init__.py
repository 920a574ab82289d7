"""Container runtimes behind one interface: Docker for real nodes, fake for hollow ones."""

from kubelet.runtime.base import (
    ContainerInfo,
    ContainerRuntime,
    ExecResult,
    ImagePullError,
    RuntimeUnavailable,
    SandboxInfo,
)

__all__ = [
    "ContainerInfo", "ContainerRuntime", "ExecResult", "ImagePullError", "RuntimeUnavailable",
    "SandboxInfo",
]
