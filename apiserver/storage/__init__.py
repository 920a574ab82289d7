"""Storage: a narrow interface (``interface``) and its etcd implementation (``etcd``)."""

from apiserver.storage.etcd import EtcdStorage
from apiserver.storage.interface import (
    KV,
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    ListResult,
    Storage,
    StorageError,
    StorageEvent,
    TooLargeError,
    UncertainError,
)

__all__ = [
    "KV", "CompactedError", "ConflictError", "EtcdStorage", "FutureRevisionError", "KeyExistsError",
    "KeyNotFoundError", "ListResult", "Storage", "StorageError", "StorageEvent",
    "TooLargeError", "UncertainError",
]
