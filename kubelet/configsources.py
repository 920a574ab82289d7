"""ConfigMaps and Secrets as the kubelet reads them, for container environments
(kubelet/containerconfig.py) and configMap/secret volumes (kubelet/configvolumes.py).

Objects are read through the API server when a container is created (no cache): a
missing one is a ``ConfigError`` with Kubernetes' message, and the pod worker tries
again on a later sync. Secret values are base64 on the wire and decoded here.
"""

from __future__ import annotations

import base64
import binascii

from api.models import ConfigMap, Secret
from client.errors import NotFound
from client.rest import AsyncClient


class ConfigError(Exception):
    """A container's environment names a ConfigMap, Secret or key that is not there."""


def decode_secret_value(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return value.encode()  # the API server validates; a bad value is not worth a crash


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
