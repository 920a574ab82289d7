"""configMap and secret volumes: files under the pod's directory, bind-mounted read-only.

They are written the way Kubernetes' AtomicWriter does: the files live in a timestamped
``..<n>`` directory, ``..data`` is a symlink to it and each top-level name a symlink
through ``..data``. An update writes a new directory and swaps ``..data`` in one
rename, so a container never sees half of an update; the mount (of the volume's
directory) shows it without a restart.
"""

from __future__ import annotations

import os
import shutil
import time

from api.models import KeyToPath, Pod, Volume
from api.models.core import DownwardAPIVolumeFile
from client.errors import ApiError
from kubelet.configsources import ConfigError, ConfigSource, decode_secret_value
from kubelet.tokens import get_token

DEFAULT_MODE = 0o644
_DATA = "..data"


class MountError(Exception):
    """A configMap/secret volume that cannot be set up (the pod stays ContainerCreating)."""


def is_config_volume(v: Volume) -> bool:
    """A volume whose files the kubelet writes: configMap, secret, projected, downwardAPI."""
    return v.config_map is not None or v.secret is not None or v.projected is not None \
        or v.downward_api is not None


def volume_dir(root_dir: str, pod_uid: str, v: Volume) -> str:
    plugin = ("kubernetes.io~configmap" if v.config_map is not None else
              "kubernetes.io~projected" if v.projected is not None else
              "kubernetes.io~downward-api" if v.downward_api is not None else
              "kubernetes.io~secret")
    return os.path.join(root_dir, "pods", pod_uid, "volumes", plugin, v.name)


Payload = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def _payload(data: dict[str, bytes], items: list[KeyToPath] | None, default_mode: int | None,
             optional: bool, what: str) -> Payload:
    mode = DEFAULT_MODE if default_mode is None else default_mode
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out: Payload = {}
    for it in items:
        if it.key not in data:
            if optional:
                continue
            noun = "config" if what == "configmap" else what
            raise ConfigError(f"{what} references non-existent {noun} key: {it.key}")
        if os.path.isabs(it.path) or ".." in it.path.split("/"):
            # The API server refuses these; a file outside the volume is never written.
            raise ConfigError(f"invalid path {it.path!r} for key {it.key}")
        out[it.path] = (data[it.key], mode if it.mode is None else it.mode)
    return out


def _field(pod: Pod, path: str) -> str:
    """A downwardAPI fieldRef's value (labels and annotations as key="value" lines)."""
    md = pod.metadata
    if path in ("metadata.labels", "metadata.annotations"):
        d = (md.labels if path == "metadata.labels" else md.annotations) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(d.items()))
    simple = {"metadata.name": md.name, "metadata.namespace": md.namespace,
              "metadata.uid": md.uid, "spec.nodeName": pod.spec.node_name,
              "spec.serviceAccountName": pod.spec.service_account_name,
              "status.podIP": pod.status.pod_ip if pod.status else None,
              "status.hostIP": pod.status.host_ip if pod.status else None}
    if path in simple:
        return simple[path] or ""
    for prefix, m in (("metadata.labels['", md.labels), ("metadata.annotations['",
                                                         md.annotations)):
        if path.startswith(prefix) and path.endswith("']"):
            return (m or {}).get(path[len(prefix):-2], "")
    raise ConfigError(f"unsupported fieldRef {path!r}")


def _downward(pod: Pod, items: list[DownwardAPIVolumeFile] | None, mode: int) -> Payload:
    out: Payload = {}
    for it in items or []:
        if os.path.isabs(it.path) or ".." in it.path.split("/"):
            raise ConfigError(f"invalid path {it.path!r}")
        if it.field_ref is None:
            continue  # resourceFieldRef: not served here
        out[it.path] = (_field(pod, it.field_ref.field_path).encode(),
                        mode if it.mode is None else it.mode)
    return out


async def _config_map_files(source: ConfigSource, name: str,
                            optional: bool) -> dict[str, bytes] | None:
    """A ConfigMap's data and binaryData as file contents; None when it is missing and
    ``optional``, ConfigError when it is missing and not."""
    cm = await source.config_map(name)
    if cm is None:
        if optional:
            return None
        raise ConfigError(f'configmap "{name}" not found')
    data = {k: val.encode() for k, val in (cm.data or {}).items()}
    data.update({k: decode_secret_value(val) for k, val in (cm.binary_data or {}).items()})
    return data


async def _projected(source: ConfigSource, pod: Pod, v: Volume) -> Payload:
    """A projected volume: its sources' files in one directory (projected.go collectData)."""
    assert v.projected is not None
    mode = DEFAULT_MODE if v.projected.default_mode is None else v.projected.default_mode
    out: Payload = {}
    for src in v.projected.sources or []:
        if src.secret is not None:
            data = await source.secret_data(src.secret.name or "", bool(src.secret.optional))
            if data is not None:
                out.update(_payload(data, src.secret.items, mode, bool(src.secret.optional),
                                    "secret"))
        elif src.config_map is not None:
            cdata = await _config_map_files(source, src.config_map.name or "",
                                            bool(src.config_map.optional))
            if cdata is not None:
                out.update(_payload(cdata, src.config_map.items, mode,
                                    bool(src.config_map.optional), "configmap"))
        elif src.downward_api is not None:
            out.update(_downward(pod, src.downward_api.items, mode))
        elif src.service_account_token is not None:
            t = src.service_account_token
            try:
                token = await get_token(
                    source.client, pod.metadata.namespace or "default",
                    pod.spec.service_account_name or "default", pod.metadata.name or "",
                    pod.metadata.uid or "", t.audience, t.expiration_seconds or 3600)
            except ApiError as exc:
                raise ConfigError(f"failed to fetch token: {exc.message}") from exc
            out[t.path] = (token.encode(), mode)
    return out


async def volume_payload(source: ConfigSource, v: Volume, pod: Pod | None = None) -> Payload:
    """The files of a configMap/secret/projected/downwardAPI volume; ConfigError when an
    object it needs is missing."""
    if v.projected is not None:
        assert pod is not None
        return await _projected(source, pod, v)
    if v.downward_api is not None:
        assert pod is not None
        mode = DEFAULT_MODE if v.downward_api.default_mode is None \
            else v.downward_api.default_mode
        return _downward(pod, v.downward_api.items, mode)
    if v.config_map is not None:
        cmv = v.config_map
        data = await _config_map_files(source, cmv.name or "", bool(cmv.optional))
        return {} if data is None else _payload(data, cmv.items, cmv.default_mode,
                                                bool(cmv.optional), "configmap")
    sv = v.secret
    assert sv is not None
    sdata = await source.secret_data(sv.secret_name or "", bool(sv.optional))
    return {} if sdata is None else _payload(sdata, sv.items, sv.default_mode,
                                             bool(sv.optional), "secret")


def _current(target: str) -> Payload | None:
    data = os.path.join(target, _DATA)
    if not os.path.isdir(data):
        return None
    out: Payload = {}
    for dirpath, _, files in os.walk(data, followlinks=True):
        for f in files:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, data)] = (fh.read(), os.stat(full).st_mode & 0o7777)
    return out


def write_payload(target: str, payload: Payload) -> bool:
    """Make ``target`` hold exactly ``payload``; False when it already did."""
    if _current(target) == payload:
        return False
    os.makedirs(target, exist_ok=True)
    stamp = f"..{time.time_ns()}"
    new = os.path.join(target, stamp)
    os.makedirs(new)
    for rel, (content, mode) in payload.items():
        path = os.path.join(new, rel)
        if os.path.dirname(rel):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)
        os.chmod(path, mode)
    os.chmod(new, 0o755)
    tmp = os.path.join(target, _DATA + "_tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(stamp, tmp)
    os.replace(tmp, os.path.join(target, _DATA))
    tops = {rel.split("/", 1)[0] for rel in payload}
    for name in os.listdir(target):
        full = os.path.join(target, name)
        if name.startswith(".."):
            if name not in (stamp, _DATA):
                shutil.rmtree(full, ignore_errors=True)
        elif name not in tops:
            os.remove(full)
    for top in tops:
        link = os.path.join(target, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join(_DATA, top), link)
    os.chmod(target, 0o755)
    return True


async def setup_volumes(source: ConfigSource, pod: Pod, root_dir: str) -> list[str]:
    """Write (or refresh) every configMap/secret volume of the pod. Returns the names of
    the volumes that changed; MountError names the first that could not be set up
    (the others are still written)."""
    changed: list[str] = []
    first_error: MountError | None = None
    for v in pod.spec.volumes or []:
        if not is_config_volume(v):
            continue
        try:
            payload = await volume_payload(source, v, pod)
        except ConfigError as exc:
            if first_error is None:
                first_error = MountError(
                    f'MountVolume.SetUp failed for volume "{v.name}" : {exc}')
            continue
        if write_payload(volume_dir(root_dir, pod.metadata.uid or "", v), payload):
            changed.append(v.name)
    if first_error is not None:
        raise first_error
    return changed
