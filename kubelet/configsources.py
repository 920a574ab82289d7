"""ConfigMaps and Secrets as a container sees them: environment variables.

Objects are read through the API server when a container is created (no cache): a
missing one is a ``ConfigError`` with Kubernetes' message, and the pod worker tries
again on a later sync. Secret values are base64 on the wire and decoded here.
"""

from __future__ import annotations

import base64
import binascii

from api.models import ConfigMap, Container, EnvVar, Pod, Secret
from client.errors import NotFound
from client.rest import AsyncClient


class ConfigError(Exception):
    """A container's environment names a ConfigMap, Secret or key that is not there."""


def decode_secret_value(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return value.encode()  # the API server validates; a bad value is not worth a crash


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


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

    async def secret(self, name: str) -> Secret | None:
        if name not in self._secrets:
            try:
                self._secrets[name] = await self.client.get(Secret, name, self.namespace)
            except NotFound:
                self._secrets[name] = None
        return self._secrets[name]

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


def _literal(name: str, value: str) -> EnvVar:
    # container_env expands $(VAR) in literal values only; a value that came from a
    # ConfigMap or Secret is taken as is, so its "$(" is escaped for that expansion.
    return EnvVar(name=name, value=value.replace("$(", "$$("))


async def resolve_env(source: ConfigSource, pod: Pod, container: Container) -> Container:
    """``container`` with envFrom and configMapKeyRef/secretKeyRef turned into literal
    values, in Kubernetes' order (envFrom first, then env, later names winning)."""
    if not container.env_from and not any(
            isinstance(e.value_from, dict) and (
                "configMapKeyRef" in e.value_from or "secretKeyRef" in e.value_from)
            for e in container.env or []):
        return container
    ns = pod.metadata.namespace or "default"
    env: list[EnvVar] = []
    for ef in container.env_from or []:
        prefix = ef.prefix or ""
        if ef.config_map_ref is not None:
            ref = ef.config_map_ref
            data = await source.config_map_data(ref.name or "", bool(ref.optional))
            env += [_literal(prefix + k, v) for k, v in (data or {}).items()]
        elif ef.secret_ref is not None:
            sref = ef.secret_ref
            sdata = await source.secret_data(sref.name or "", bool(sref.optional))
            env += [_literal(prefix + k, _text(v)) for k, v in (sdata or {}).items()]
    for e in container.env or []:
        vf = e.value_from if e.value is None else None
        cm_ref = vf.get("configMapKeyRef") if isinstance(vf, dict) else None
        s_ref = vf.get("secretKeyRef") if isinstance(vf, dict) else None
        if isinstance(cm_ref, dict):
            name, key = str(cm_ref.get("name") or ""), str(cm_ref.get("key") or "")
            optional = bool(cm_ref.get("optional"))
            data = await source.config_map_data(name, optional)
            if data is None:
                continue
            if key not in data:
                if optional:
                    continue
                raise ConfigError(f"couldn't find key {key} in ConfigMap {ns}/{name}")
            env.append(_literal(e.name, data[key]))
        elif isinstance(s_ref, dict):
            name, key = str(s_ref.get("name") or ""), str(s_ref.get("key") or "")
            optional = bool(s_ref.get("optional"))
            sdata = await source.secret_data(name, optional)
            if sdata is None:
                continue
            if key not in sdata:
                if optional:
                    continue
                raise ConfigError(f"couldn't find key {key} in Secret {ns}/{name}")
            env.append(_literal(e.name, _text(sdata[key])))
        else:
            env.append(e)
    out = container.model_copy(update={"env": env, "env_from": None})
    return out
