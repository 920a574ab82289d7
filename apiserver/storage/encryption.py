"""Encryption at rest, as kube-apiserver's --encryption-provider-config
(staging/src/k8s.io/apiserver/pkg/storage/value/encrypt and pkg/server/options/encryptionconfig).

An ``apiserver.config.k8s.io/v1`` EncryptionConfiguration names, per resource, a list of
providers: the first one writes, all of them read (a stored value names its provider and
key: ``k8s:enc:aescbc:v1:<key name>:<iv><ciphertext>``). Providers: ``identity`` (plain),
``aescbc`` (AES-CBC, PKCS#7, a random IV), ``aesgcm`` (AES-GCM, a random nonce, the etcd
key as authenticated data) and ``secretbox`` (XSalsa20-Poly1305, NaCl's secretbox; a
random nonce), with ``cryptography``'s AES and PyNaCl's (libsodium's) secretbox.

``EncryptingStorage`` wraps the etcd storage: values under the configured resources'
prefixes (``/registry/secrets/``) are encrypted on create and update and decrypted on
every read, list, watch event and compare-and-swap conflict, so nothing above the
storage layer (registry, watch cache) sees ciphertext. Values written before encryption
was configured stay readable while ``identity`` is one of the providers; a server whose
first provider is ``identity`` still reads values an ``aescbc`` key wrote, as long as
that key is listed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import nacl.exceptions
import nacl.secret
import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apiserver.storage.interface import (
    KV,
    ConflictError,
    ListResult,
    Storage,
    StorageError,
    StorageEvent,
)

PREFIX = b"k8s:enc:"


class EncryptionError(StorageError):
    """A stored value no configured provider can read."""


class Transformer(Protocol):
    #: What a value it wrote starts with (b"" for identity).
    prefix: bytes

    def seal(self, data: bytes, key: str) -> bytes: ...

    def open(self, data: bytes, key: str) -> bytes: ...


class Identity:
    prefix = b""

    def seal(self, data: bytes, key: str) -> bytes:
        return data

    def open(self, data: bytes, key: str) -> bytes:
        return data


class AESCBC:
    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise ValueError(f"aescbc key {name!r}: must be 16, 24 or 32 bytes")
        self.prefix = f"k8s:enc:aescbc:v1:{name}:".encode()
        self._key = secret

    def seal(self, data: bytes, key: str) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        enc = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return self.prefix + iv + enc.update(padded) + enc.finalize()

    def open(self, data: bytes, key: str) -> bytes:
        body = data[len(self.prefix):]
        if len(body) < 32 or len(body) % 16:
            raise EncryptionError("aescbc: the stored value is not whole blocks")
        dec = Cipher(algorithms.AES(self._key), modes.CBC(body[:16])).decryptor()
        padded = dec.update(body[16:]) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise EncryptionError("aescbc: invalid padding (wrong key?)") from None


class AESGCMTransformer:
    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise ValueError(f"aesgcm key {name!r}: must be 16, 24 or 32 bytes")
        self.prefix = f"k8s:enc:aesgcm:v1:{name}:".encode()
        self._aead = AESGCM(secret)

    def seal(self, data: bytes, key: str) -> bytes:
        nonce = os.urandom(12)
        return self.prefix + nonce + self._aead.encrypt(nonce, data, key.encode())

    def open(self, data: bytes, key: str) -> bytes:
        body = data[len(self.prefix):]
        try:
            return self._aead.decrypt(body[:12], body[12:], key.encode())
        except Exception:
            raise EncryptionError("aesgcm: authentication failed (wrong key?)") from None


# ---- NaCl secretbox (XSalsa20-Poly1305, through PyNaCl/libsodium) --------------------


class Secretbox:
    """Kubernetes' secretbox value: ``<prefix><24-byte nonce><16-byte tag><ciphertext>``,
    what golang.org/x/crypto/nacl/secretbox.Seal appends to the nonce (and PyNaCl's
    ``SecretBox.encrypt`` returns)."""

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError(f"secretbox key {name!r}: must be 32 bytes")
        self.prefix = f"k8s:enc:secretbox:v1:{name}:".encode()
        self._box = nacl.secret.SecretBox(secret)

    def seal(self, data: bytes, key: str) -> bytes:
        return self.prefix + bytes(self._box.encrypt(data, os.urandom(24)))

    def open(self, data: bytes, key: str) -> bytes:
        body = data[len(self.prefix):]
        if len(body) < 40:
            raise EncryptionError("secretbox: the stored value is too short")
        try:
            return self._box.decrypt(body)
        except nacl.exceptions.CryptoError:
            raise EncryptionError("secretbox: authentication failed (wrong key?)") from None


# ---- the configuration -----------------------------------------------------------------

_PROVIDERS: dict[str, Any] = {"aescbc": AESCBC, "aesgcm": AESGCMTransformer,
                              "secretbox": Secretbox}


def _providers(raw: Any, where: str) -> list[Transformer]:
    out: list[Transformer] = []
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: providers must be a non-empty list")
    for i, p in enumerate(raw):
        if not isinstance(p, dict) or len(p) != 1:
            raise ValueError(f"{where}.providers[{i}]: exactly one provider type expected")
        (kind, body), = p.items()
        if kind == "identity":
            out.append(Identity())
            continue
        if kind not in _PROVIDERS:
            raise ValueError(f"{where}.providers[{i}]: unsupported provider {kind!r} "
                             f"(supported: identity, {', '.join(_PROVIDERS)})")
        keys = (body or {}).get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise ValueError(f"{where}.providers[{i}].{kind}.keys: at least one key is needed")
        for j, k in enumerate(keys):
            name = k.get("name") if isinstance(k, dict) else None
            secret = k.get("secret") if isinstance(k, dict) else None
            if not name or not isinstance(secret, str):
                raise ValueError(f"{where}.providers[{i}].{kind}.keys[{j}]: name and secret "
                                 f"are required")
            try:
                raw_key = base64.b64decode(secret, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where}.providers[{i}].{kind}.keys[{j}].secret: not "
                                 f"base64") from None
            out.append(_PROVIDERS[kind](str(name), raw_key))
    return out


def load_config(path: str | Path) -> dict[str, list[Transformer]]:
    """Storage key prefix (``/registry/secrets/``) -> providers, the writer first."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"--encryption-provider-config: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration" or \
            doc.get("apiVersion") != "apiserver.config.k8s.io/v1":
        raise ValueError("--encryption-provider-config: an apiserver.config.k8s.io/v1 "
                         "EncryptionConfiguration is expected")
    out: dict[str, list[Transformer]] = {}
    for i, entry in enumerate(doc.get("resources") or []):
        where = f"resources[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be an object")
        providers = _providers(entry.get("providers"), where)
        for r in entry.get("resources") or []:
            plural = str(r).split(".", 1)[0]
            out.setdefault(f"/registry/{plural}/", providers)
    return out


class EncryptingStorage:
    """A Storage that encrypts the values of the configured prefixes."""

    def __init__(self, inner: Storage, config: dict[str, list[Transformer]]) -> None:
        self.inner = inner
        self.config = config

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _providers(self, key: str) -> list[Transformer] | None:
        for prefix, providers in self.config.items():
            if key.startswith(prefix):
                return providers
        return None

    def _seal(self, key: str, value: bytes) -> bytes:
        providers = self._providers(key)
        return value if providers is None else providers[0].seal(value, key)

    def _open(self, key: str, value: bytes | None) -> bytes | None:
        providers = self._providers(key)
        if providers is None or value is None:
            return value
        if value.startswith(PREFIX):
            for p in providers:
                if p.prefix and value.startswith(p.prefix):
                    return p.open(value, key)
            raise EncryptionError(f"no configured provider can read {key} (its key is not "
                                  f"listed in --encryption-provider-config)")
        if any(isinstance(p, Identity) for p in providers):
            return value
        raise EncryptionError(f"{key} is stored unencrypted and identity is not a provider")

    def _kv(self, kv: KV | None) -> KV | None:
        if kv is None:
            return None
        return KV(kv.key, self._open(kv.key, kv.value) or b"", kv.mod_revision,
                  kv.create_revision)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def get(self, key: str) -> KV | None:
        return self._kv(await self.inner.get(key))

    async def list_prefix(self, prefix: str, *, revision: int = 0, start_key: str | None = None,
                          limit: int = 0) -> ListResult:
        res = await self.inner.list_prefix(prefix, revision=revision, start_key=start_key,
                                           limit=limit)
        if not any(p.startswith(prefix) or prefix.startswith(p) for p in self.config):
            return res
        return ListResult([kv for kv in (self._kv(k) for k in res.kvs) if kv is not None],
                          res.revision, res.more)

    async def create(self, key: str, value: bytes, ttl: int | None = None) -> int:
        return await self.inner.create(key, self._seal(key, value), ttl)

    async def update(self, key: str, value: bytes, expected_mod_revision: int,
                     ttl: int | None = None) -> int:
        try:
            return await self.inner.update(key, self._seal(key, value), expected_mod_revision,
                                           ttl)
        except ConflictError as e:
            raise ConflictError(key, self._kv(e.current)) from None

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> int:
        return await self.inner.delete(key, expected_mod_revision)

    async def watch(self, prefix: str, start_revision: int,
                    progress_requests: asyncio.Queue[bool] | None = None
                    ) -> AsyncIterator[list[StorageEvent]]:
        async for batch in self.inner.watch(prefix, start_revision,
                                            progress_requests):
            yield [StorageEvent(ev.type, ev.key, self._open(ev.key, ev.value),
                                self._open(ev.key, ev.prev_value), ev.revision)
                   for ev in batch]

    async def history(self, prefix: str, start_revision: int,
                      end_revision: int) -> list[StorageEvent]:
        events: list[StorageEvent] = await self.inner.history(  # type: ignore[attr-defined]
            prefix, start_revision, end_revision)
        return [StorageEvent(ev.type, ev.key, self._open(ev.key, ev.value),
                             self._open(ev.key, ev.prev_value), ev.revision)
                for ev in events]

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)
