"""The narrow storage interface the API server needs; etcd is the one implementation.

Values are opaque bytes here; revisions are etcd's global revision numbers, which
the API server hands out as resourceVersions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(slots=True)
class ListResult:
    kvs: list[KV]
    revision: int  # the store revision the list was read at
    more: bool


@dataclass(slots=True)
class StorageEvent:
    type: str  # "PUT" or "DELETE" (or "PROGRESS": a watch's progress notification)
    key: str
    value: bytes | None  # None for DELETE
    prev_value: bytes | None  # None when the key did not exist before
    revision: int


class StorageError(Exception):
    """etcd could not be reached or answered with an error."""


class TooLargeError(StorageError):
    """A value over the store's request limit (etcd's --max-request-bytes)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"etcdserver: request is too large ({size} bytes, limit {limit})")
        self.size = size
        self.limit = limit


class UncertainError(StorageError):
    """A write sent to the store whose outcome is unknown (it timed out or the
    connection broke after sending): it may have committed."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StorageError):
    """A compare-and-swap lost: ``current`` is what the key holds now (None if gone)."""

    def __init__(self, key: str, current: KV | None) -> None:
        super().__init__(f"revision mismatch on {key}")
        self.key = key
        self.current = current


class FutureRevisionError(StorageError):
    """A read at a revision the store has not reached yet."""


class CompactedError(StorageError):
    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted below {compacted_revision}")
        self.compacted_revision = compacted_revision


class Storage(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, key: str) -> KV | None: ...

    async def list_prefix(self, prefix: str, *, revision: int = 0, start_key: str | None = None,
                   limit: int = 0) -> ListResult: ...

    async def create(self, key: str, value: bytes, ttl: int | None = None) -> int:
        """Put ``key`` only if absent; the new revision. Raises KeyExistsError.
        With ``ttl``, the key is deleted by the store after about that many seconds."""
        ...

    async def update(self, key: str, value: bytes, expected_mod_revision: int,
                     ttl: int | None = None) -> int:
        """Compare-and-swap; raises ConflictError carrying the current value."""
        ...

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> int:
        """Delete (guarded when a revision is given); the deletion's revision."""
        ...

    def watch(self, prefix: str, start_revision: int,
              progress_requests: asyncio.Queue[bool] | None = None
              ) -> AsyncIterator[list[StorageEvent]]:
        """Batches of events from ``start_revision`` (inclusive), one batch per revision
        group etcd sends. Raises CompactedError if that revision is gone. With
        ``progress_requests``: a True put there asks etcd for the watch's progress,
        answered by a batch of one ``PROGRESS`` event (its revision: etcd's header's)."""
        ...

    async def current_revision(self) -> int: ...

    async def compact(self, revision: int) -> None: ...
