"""What a pod's sandbox and containers are made of, decided once, here, for every runtime.

The kubelet turns a pod and one of its containers into a ``ContainerConfig`` (image,
command, environment, mounts, cgroup resources and parent, labels) and a pod into a
``PodSandboxConfig``, as Kubernetes' kubelet does before it calls the CRI
(pkg/kubelet/kuberuntime/kuberuntime_container.go ``generateContainerConfig``,
kuberuntime_sandbox.go ``generatePodSandboxConfig``); the runtimes only execute them.

- The environment is resolved in one pass, as kubelet_pods.go
  ``makeEnvironmentVariables``: ``envFrom`` first, then ``env`` in order, a later name
  replacing the value of an earlier one; ConfigMap and Secret values are read through
  a ``ConfigSource`` and taken as they are, ``$(VAR)`` is expanded in the others.
- Mounts, as kubelet_pods.go ``makeMounts``: the volume kind decides the host path
  (emptyDir, hostPath, configMap, secret); the directories an emptyDir, a
  DirectoryOrCreate hostPath or a subPath need are made here, before the runtime is
  called. configMap/secret volumes are written earlier by kubelet/configvolumes.py.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from api.models import Container, Pod
from api.quantity import cpu_millis, to_bytes
from kubelet.configsources import ConfigError, ConfigSource
from kubelet.configvolumes import is_config_volume, volume_dir
from kubelet.dns import hostname_and_domain
from kubelet.resources import container_resources, qos_cgroup_parent
from kubelet.runtime.base import (
    LABEL_CONTAINER_NAME,
    LABEL_GRACE,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_TYPE,
    SANDBOX_NAME,
    TYPE_CONTAINER,
    TYPE_SANDBOX,
    ContainerConfig,
    ContainerCreateError,
    DNSConfig,
    Mount,
    PodSandboxConfig,
    PortMapping,
)

# ---- names and labels -------------------------------------------------------


def container_name(pod: Pod, container: str, restart_count: int) -> str:
    """dockershim-style: ``k8s_<container>_<pod>_<namespace>_<uid>_<restarts>``."""
    m = pod.metadata
    return f"k8s_{container}_{m.name}_{m.namespace}_{m.uid}_{restart_count}"


def pod_labels(pod: Pod, node: str) -> dict[str, str]:
    m = pod.metadata
    return {
        LABEL_POD_NAME: m.name or "",
        LABEL_POD_NAMESPACE: m.namespace or "default",
        LABEL_POD_UID: m.uid or "",
        LABEL_NODE: node,
    }


# ---- sandbox ----------------------------------------------------------------


def sandbox_config(pod: Pod, node: str, attempt: int, dns: DNSConfig | None = None,
                   cluster_domain: str = "cluster.local") -> PodSandboxConfig:
    """The pod's sandbox: its name, labels, hostname and domain (kubelet/dns.py
    ``hostname_and_domain``), host ports, cgroup parent and resolv.conf (``dns``, from
    kubelet/dns.py ``pod_dns``; None keeps the runtime's)."""
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    ports = [PortMapping(container_port=p.container_port,
                         protocol=(p.protocol or "TCP").lower(),
                         host_port=p.host_port, host_ip=p.host_ip)
             for c in pod.spec.containers for p in c.ports or [] if p.host_port]
    labels = {**pod_labels(pod, node), LABEL_CONTAINER_NAME: SANDBOX_NAME,
              LABEL_TYPE: TYPE_SANDBOX, LABEL_RESTART_COUNT: str(attempt)}
    return PodSandboxConfig(
        name=container_name(pod, SANDBOX_NAME, attempt), labels=labels,
        hostname=hostname, domainname=domain,
        host_network=bool(pod.spec.host_network), host_pid=bool(pod.spec.host_pid),
        host_ipc=bool(pod.spec.host_ipc), port_mappings=ports,
        cgroup_parent=qos_cgroup_parent(pod), dns_config=dns)


# ---- containers -------------------------------------------------------------


def pid_namespace(pod: Pod, target_id: str = "") -> str:
    """The container's process namespace (namespacesForPod, then an ephemeral container's
    target where the container would otherwise have its own)."""
    if pod.spec.host_pid:
        return "NODE"
    if pod.spec.share_process_namespace:
        return "POD"
    return "TARGET" if target_id else "CONTAINER"


def _security(container: Container) -> tuple[bool, list[str], list[str]]:
    """securityContext.privileged and capabilities.add/drop of a container."""
    sc = container.security_context or {}
    caps = sc.get("capabilities")
    if not isinstance(caps, dict):
        caps = {}
    return (sc.get("privileged") is True, [str(c) for c in caps.get("add") or []],
            [str(c) for c in caps.get("drop") or []])


async def container_config(pod: Pod, container: Container, pod_ip: str, node: str,
                           restart_count: int, root_dir: str,
                           source: ConfigSource, pid_target: str = "") -> ContainerConfig:
    """The container as the runtime will create it; ``pid_target``: the runtime id of the
    container whose processes an ephemeral container sees (its targetContainerName).
    Raises ConfigError (a ConfigMap, Secret or key the environment names is missing) or
    ContainerCreateError (a mount that cannot be made)."""
    envs = await make_environment(pod, container, pod_ip, source)
    mounts: list[Mount] = []
    if container.volume_mounts:
        claims = await claim_paths(pod, container, source)
        # Directories are made on a thread: the event loop never waits on the disk.
        mounts = await asyncio.to_thread(make_mounts, pod, container, root_dir, claims)
    labels = {**pod_labels(pod, node), LABEL_CONTAINER_NAME: container.name,
              LABEL_TYPE: TYPE_CONTAINER, LABEL_RESTART_COUNT: str(restart_count),
              LABEL_GRACE: str(pod.spec.termination_grace_period_seconds or 30)}
    pid = pid_namespace(pod, pid_target)
    privileged, cap_add, cap_drop = _security(container)
    return ContainerConfig(
        name=container_name(pod, container.name, restart_count), image=container.image or "",
        labels=labels, command=container.command, args=container.args,
        working_dir=container.working_dir, envs=envs, mounts=mounts,
        resources=container_resources(container), cgroup_parent=qos_cgroup_parent(pod),
        stdin=bool(container.stdin), stdin_once=bool(container.stdin_once),
        tty=bool(container.tty), ipc="NODE" if pod.spec.host_ipc else "POD",
        pid=pid, pid_target=pid_target if pid == "TARGET" else "",
        privileged=privileged, cap_add=cap_add, cap_drop=cap_drop)


# ---- environment ------------------------------------------------------------


async def make_environment(pod: Pod, c: Container, pod_ip: str,
                           source: ConfigSource) -> dict[str, str]:
    """The container's environment (makeEnvironmentVariables): envFrom, then env with
    values, ConfigMap/Secret keys and the downward API's fieldRef/resourceFieldRef.

    ``$(VAR)`` references to earlier variables are expanded in values and downward API
    fields, not in what came from a ConfigMap or Secret. ConfigError when a ConfigMap,
    Secret or key that is not optional is missing (Kubernetes' messages).
    """
    ns = pod.metadata.namespace or "default"
    # The master service's variables first (always, as the kubelet's getServiceEnvVarMap):
    # what the official clients' in-cluster configuration reads.
    out: dict[str, str] = dict(await source.master_service_env())
    for ef in c.env_from or []:
        prefix = ef.prefix or ""
        if ef.config_map_ref is not None:
            ref = ef.config_map_ref
            data = await source.config_map_data(ref.name or "", bool(ref.optional))
            for k, v in (data or {}).items():
                out[prefix + k] = v
        elif ef.secret_ref is not None:
            sref = ef.secret_ref
            sdata = await source.secret_data(sref.name or "", bool(sref.optional))
            for k, raw in (sdata or {}).items():
                out[prefix + k] = _text(raw)
    for e in c.env or []:
        value = e.value
        vf = e.value_from if value is None and isinstance(e.value_from, dict) else {}
        cm_ref, s_ref = vf.get("configMapKeyRef"), vf.get("secretKeyRef")
        key_ref = cm_ref if isinstance(cm_ref, dict) else s_ref
        if isinstance(key_ref, dict):
            kind = "ConfigMap" if key_ref is cm_ref else "Secret"
            from_key = await _key_value(source, ns, kind, key_ref)
            if from_key is not None:
                out[e.name] = from_key
            continue
        field, res = vf.get("fieldRef"), vf.get("resourceFieldRef")
        if isinstance(field, dict):
            value = _field_ref(pod, str(field.get("fieldPath", "")), pod_ip)
        elif isinstance(res, dict):
            value = _resource_ref(c, res)
        out[e.name] = _expand(value or "", out)
    return out


async def _key_value(source: ConfigSource, ns: str, kind: str,
                     ref: dict[str, Any]) -> str | None:
    """The value a configMapKeyRef or secretKeyRef (``kind`` ConfigMap or Secret) names;
    None when it is optional and missing."""
    name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
    optional = bool(ref.get("optional"))
    data: dict[str, str] | None
    if kind == "ConfigMap":
        data = await source.config_map_data(name, optional)
    else:
        sdata = await source.secret_data(name, optional)
        data = None if sdata is None else {k: _text(v) for k, v in sdata.items()}
    if data is None or (key not in data and optional):
        return None
    if key not in data:
        raise ConfigError(f"couldn't find key {key} in {kind} {ns}/{name}")
    return data[key]


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _field_ref(pod: Pod, path: str, pod_ip: str) -> str:
    m = pod.metadata
    simple = {
        "metadata.name": m.name, "metadata.namespace": m.namespace, "metadata.uid": m.uid,
        "spec.nodeName": pod.spec.node_name, "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod_ip, "status.podIPs": pod_ip,
        "status.hostIP": pod.status.host_ip if pod.status else None,
    }
    if path in simple:
        return simple[path] or ""
    for prefix, labels in (("metadata.labels", m.labels), ("metadata.annotations", m.annotations)):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return (labels or {}).get(path[len(prefix) + 2:-2], "")
    return ""


def _resource_ref(c: Container, ref: dict[str, str]) -> str:
    which, _, name = str(ref.get("resource", "")).partition(".")
    values = (getattr(c.resources, which, None) if c.resources else None) or {}
    q = values.get(name)
    if q is None:
        return ""
    if name == "cpu":
        return str(max(1, -(-cpu_millis(q) // 1000)))
    return str(to_bytes(q))


def _expand(value: str, env: dict[str, str]) -> str:
    """``$(VAR)`` -> the value of an earlier variable (kept as is when there is none);
    ``$$(`` -> a literal ``$(``."""
    if "$(" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        if value.startswith("$$(", i):
            out.append("$(")
            i += 3
        elif value.startswith("$(", i) and (j := value.find(")", i)) != -1:
            name = value[i + 2:j]
            out.append(env.get(name, value[i:j + 1]))
            i = j + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


# ---- mounts -----------------------------------------------------------------


def empty_dir_path(root_dir: str, pod_uid: str, volume: str) -> str:
    return os.path.join(root_dir, "pods", pod_uid, "volumes", "empty-dir", volume)


async def claim_paths(pod: Pod, container: Container, source: ConfigSource) -> dict[str, str]:
    """The host paths of the persistentVolumeClaim volumes the container mounts, by
    volume name (their PersistentVolumes' hostPath or local path)."""
    wanted = {m.name for m in container.volume_mounts or []}
    out: dict[str, str] = {}
    for v in pod.spec.volumes or []:
        src = (v.model_extra or {}).get("persistentVolumeClaim")
        if v.name in wanted and isinstance(src, dict) and src.get("claimName"):
            out[v.name] = await source.claim_path(str(src["claimName"]))
    return out


def make_mounts(pod: Pod, container: Container, root_dir: str,
                claims: dict[str, str] | None = None) -> list[Mount]:
    """The container's bind mounts, with the host directories they need made (blocking:
    call it off the event loop). ContainerCreateError names what cannot be mounted.
    ``claims``: the host paths of persistentVolumeClaim volumes (``claim_paths``)."""
    try:
        return [_mount(pod, m.name, m.mount_path, m.sub_path, bool(m.read_only), root_dir,
                       claims or {})
                for m in container.volume_mounts or []]
    except OSError as exc:
        raise ContainerCreateError(str(exc)) from exc


def _mount(pod: Pod, name: str, mount_path: str, sub_path: str | None, read_only: bool,
           root_dir: str, claims: dict[str, str]) -> Mount:
    uid = pod.metadata.uid or ""
    v = next((v for v in pod.spec.volumes or [] if v.name == name), None)
    if v is None:
        raise ContainerCreateError(f"volume {name!r} of mount {mount_path!r} is not defined")
    if name in claims:
        # a PersistentVolume's directory on this node (a local-path volume's is made on
        # first use, as its hostPath type DirectoryOrCreate says)
        host = claims[name]
        if not os.path.exists(host):
            os.makedirs(host, mode=0o777, exist_ok=True)
            os.chmod(host, 0o777)
        if ((v.model_extra or {}).get("persistentVolumeClaim") or {}).get("readOnly"):
            read_only = True
    elif v.host_path is not None:
        host = v.host_path.path
        if v.host_path.type in ("DirectoryOrCreate", None, "") and not os.path.exists(host):
            os.makedirs(host, mode=0o755, exist_ok=True)
    elif is_config_volume(v):
        # Written by the pod worker before the containers start (configvolumes); always
        # read-only, and a subPath in it is not made (it is the object's key or nothing).
        host = volume_dir(root_dir, uid, v)
        if not os.path.isdir(host):
            raise ContainerCreateError(f"volume {name!r} is not set up")
        if sub_path:
            host = os.path.join(host, sub_path)
        return Mount(container_path=mount_path, host_path=host, readonly=True)
    elif v.empty_dir is not None:
        # A per-pod host directory that lives exactly as long as the pod does.
        host = empty_dir_path(root_dir, uid, v.name)
        os.makedirs(host, exist_ok=True)
        os.chmod(host, 0o777)
    else:
        raise ContainerCreateError(
            f"volume {name!r} of mount {mount_path!r} has a type this kubelet cannot mount")
    if sub_path:
        host = os.path.join(host, sub_path)
        os.makedirs(host, exist_ok=True)
    return Mount(container_path=mount_path, host_path=host, readonly=read_only)
