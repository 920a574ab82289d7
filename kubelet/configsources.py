"""ConfigMaps and Secrets as the kubelet reads them, for container environments
(kubelet/containerconfig.py) and configMap/secret volumes (kubelet/configvolumes.py).

Objects are read through the API server when a container is created (no cache): a
missing one is a ``ConfigError`` with Kubernetes' message, and the pod worker tries
again on a later sync. Secret values are base64 on the wire and decoded here.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from api.models import ConfigMap, Secret
from api.models.storage import PersistentVolume, PersistentVolumeClaim
from api.storage import volume_host_path
from client.errors import ApiError, NotFound
from client.rest import AsyncClient


class ConfigError(Exception):
    """A container's environment names a ConfigMap, Secret or key that is not there."""


def decode_secret_value(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return value.encode()  # the API server validates; a bad value is not worth a crash


_MASTER_ENV_TTL = 60.0
_master_env: dict[str, tuple[float, dict[str, str]]] = {}  # API server URL -> (expiry, env)


def service_env(name: str, cluster_ip: str, ports: list[dict[str, Any]]) -> dict[str, str]:
    """envvars.FromServices for one Service: <NAME>_SERVICE_HOST/PORT, <NAME>_PORT..."""
    if not cluster_ip or cluster_ip == "None" or not ports:
        return {}
    prefix = name.upper().replace("-", "_")
    out = {f"{prefix}_SERVICE_HOST": cluster_ip,
           f"{prefix}_SERVICE_PORT": str(ports[0].get("port"))}
    for p in ports:
        if p.get("name"):
            out[f"{prefix}_SERVICE_PORT_{str(p['name']).upper().replace('-', '_')}"] = \
                str(p.get("port"))
    first = ports[0]
    proto = str(first.get("protocol") or "TCP")
    out[f"{prefix}_PORT"] = f"{proto.lower()}://{cluster_ip}:{first.get('port')}"
    for p in ports:
        proto = str(p.get("protocol") or "TCP")
        base = f"{prefix}_PORT_{p.get('port')}_{proto.upper()}"
        out[base] = f"{proto.lower()}://{cluster_ip}:{p.get('port')}"
        out[base + "_PROTO"] = proto.lower()
        out[base + "_PORT"] = str(p.get("port"))
        out[base + "_ADDR"] = cluster_ip
    return out


class ConfigSource:
    """ConfigMaps and Secrets of one namespace, each fetched at most once per instance."""

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._maps: dict[str, ConfigMap | None] = {}
        self._secrets: dict[str, Secret | None] = {}

    async def config_map(self, name: str) -> ConfigMap | None:
        if name not in self._maps:
            try:
                self._maps[name] = await self.client.get(ConfigMap, name, self.namespace)
            except NotFound:
                self._maps[name] = None
        return self._maps[name]

    async def claim_path(self, name: str) -> str:
        """Where the volume bound to PersistentVolumeClaim ``name`` lives on this node (its
        PersistentVolume's hostPath or local path). ConfigError while the claim is missing,
        unbound (a WaitForFirstConsumer claim is bound after the pod is scheduled) or its
        volume is not one this kubelet can mount; the pod worker tries again later."""
        try:
            pvc = await self.client.get(PersistentVolumeClaim, name, self.namespace)
        except NotFound:
            raise ConfigError(f'persistentvolumeclaim "{name}" not found') from None
        volume = pvc.spec.volume_name if pvc.spec else None
        if not volume or pvc.status is None or pvc.status.phase != "Bound":
            raise ConfigError(f"error processing PVC {self.namespace}/{name}: PVC is not bound")
        try:
            pv = await self.client.get(PersistentVolume, volume)
        except NotFound:
            raise ConfigError(f'persistentvolume "{volume}" not found') from None
        path = volume_host_path(pv.to_dict())
        if not path:
            raise ConfigError(f'persistentvolume "{volume}" is neither hostPath nor local')
        return path

    async def secret(self, name: str) -> Secret | None:
        if name not in self._secrets:
            try:
                self._secrets[name] = await self.client.get(Secret, name, self.namespace)
            except NotFound:
                self._secrets[name] = None
        return self._secrets[name]

    async def master_service_env(self) -> dict[str, str]:
        """The ``kubernetes`` Service's variables (KUBERNETES_SERVICE_HOST...), read at
        most once a minute per API server; none while it cannot be read."""
        key = self.client.server
        now = time.monotonic()
        hit = _master_env.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            svc = await self.client.request("GET", "/api/v1/namespaces/default/services/"
                                                   "kubernetes")
            spec = svc.get("spec") or {} if isinstance(svc, dict) else {}
            env = service_env("kubernetes", str(spec.get("clusterIP") or ""),
                              [p for p in spec.get("ports") or [] if isinstance(p, dict)])
        except ApiError:
            env = {}
        _master_env[key] = (now + _MASTER_ENV_TTL, env)
        return env

    async def config_map_data(self, name: str, optional: bool) -> dict[str, str] | None:
        """The ConfigMap's string data; None if it is missing and optional."""
        cm = await self.config_map(name)
        if cm is None:
            if optional:
                return None
            raise ConfigError(f'configmap "{name}" not found')
        return dict(cm.data or {})

    async def secret_data(self, name: str, optional: bool) -> dict[str, bytes] | None:
        s = await self.secret(name)
        if s is None:
            if optional:
                return None
            raise ConfigError(f'secret "{name}" not found')
        return {k: decode_secret_value(v) for k, v in (s.data or {}).items()}
