"""Storage on etcd v3 through aetcd's generated gRPC stubs.

aetcd's high-level client covers get/put/txn but hides what the API server needs:
ranges with ``limit``/``revision`` (paginated and consistent lists), the watch
response headers, and batched watch events. So this module uses its ``rpc`` stubs
on one shared grpc.aio channel; several endpoints become one ``ipv4:`` target with
pick_first, so gRPC fails over between them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import grpc
from aetcd import rpc

from apiserver.metrics import observe_etcd
from apiserver.storage.interface import (
    KV,
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    ListResult,
    StorageError,
    StorageEvent,
    TooLargeError,
    UncertainError,
)

log = logging.getLogger("apiserver.storage")

_TIMEOUT = 10.0
# etcd's default --max-request-bytes (1.5 MiB), the object size kube-apiserver can store.
MAX_REQUEST_BYTES = 1536 * 1024
# Codes after which a write may or may not have been applied.
_UNCERTAIN = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
              grpc.StatusCode.UNKNOWN)


def prefix_end(prefix: bytes) -> bytes:
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


def grpc_target(servers: str) -> str:
    """``http://127.0.0.1:2379,http://127.0.0.1:22379`` -> a gRPC target."""
    hosts: list[tuple[str, int]] = []
    for s in servers.split(","):
        s = s.strip()
        if not s:
            continue
        u = urlparse(s if "://" in s else "http://" + s)
        hosts.append((u.hostname or "127.0.0.1", u.port or 2379))
    if not hosts:
        raise ValueError("no etcd servers given")
    try:
        for h, _ in hosts:
            ipaddress.IPv4Address(h)
    except ValueError:
        h, p = hosts[0]
        return f"dns:///{h}:{p}"
    return "ipv4:" + ",".join(f"{h}:{p}" for h, p in hosts)


def _kv(kv: Any) -> KV:
    return KV(kv.key.decode(), kv.value, kv.mod_revision, kv.create_revision)


def _wrap(exc: grpc.aio.AioRpcError, write: bool = False) -> StorageError:
    details = exc.details() or ""
    if "request is too large" in details or "larger than max" in details:
        return TooLargeError(0, MAX_REQUEST_BYTES)
    if write and exc.code() in _UNCERTAIN:
        return UncertainError(f"etcd: {exc.code().name}: {details}")
    if "compacted" in details:
        # mvcc: required revision has been compacted
        return CompactedError(0)
    if "future revision" in details:
        return FutureRevisionError(details)
    return StorageError(f"etcd: {exc.code().name}: {details}")


def _check_size(key: bytes, value: bytes) -> None:
    if len(key) + len(value) > MAX_REQUEST_BYTES:
        raise TooLargeError(len(key) + len(value), MAX_REQUEST_BYTES)


class EtcdStorage:
    def __init__(self, servers: str) -> None:
        self.target = grpc_target(servers)
        self._channel: grpc.aio.Channel | None = None
        self._kv: Any = None
        self._watch: Any = None
        self._lease_stub: Any = None
        # ttl -> (lease id, monotonic time until which new keys may join it)
        self._leases: dict[int, tuple[int, float]] = {}

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.target, options=[
            ("grpc.lb_policy_name", "pick_first"),
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ])
        self._kv = rpc.KVStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._lease_stub = rpc.LeaseStub(self._channel)

    async def _lease(self, ttl: int) -> int:
        """A lease for keys that expire after about ``ttl`` seconds.

        Like the real API server's lease manager: keys written within one window
        (a minute, or the TTL if shorter) share a lease of TTL + window, so a busy
        event stream costs one grant per window.
        """
        now = time.monotonic()
        cur = self._leases.get(ttl)
        if cur is not None and cur[1] > now:
            return cur[0]
        window = min(60, ttl)
        resp = await self._call(self._lease_stub.LeaseGrant,
                                rpc.LeaseGrantRequest(TTL=ttl + window, ID=0))
        self._leases[ttl] = (int(resp.ID), now + window)
        return int(resp.ID)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _call(self, method: Any, request: Any) -> Any:
        # RangeRequest -> "range", TxnRequest -> "txn": the etcd latency metric's label.
        op = type(request).__name__.removesuffix("Request").lower()
        start = time.perf_counter()
        try:
            resp = await method(request, timeout=_TIMEOUT)
            observe_etcd(op, time.perf_counter() - start)
            return resp
        except grpc.aio.AioRpcError as e:
            observe_etcd(op, time.perf_counter() - start, ok=False)
            raise _wrap(e, write=op == "txn") from None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # grpc raises a few non-AioRpcError kinds on shutdown
            raise StorageError(f"etcd: {e!r}") from None

    async def get(self, key: str) -> KV | None:
        resp = await self._call(self._kv.Range, rpc.RangeRequest(key=key.encode()))
        if not resp.kvs:
            return None
        return _kv(resp.kvs[0])

    async def list_prefix(self, prefix: str, *, revision: int = 0, start_key: str | None = None,
                   limit: int = 0) -> ListResult:
        p = prefix.encode()
        req = rpc.RangeRequest(key=start_key.encode() if start_key else p,
                               range_end=prefix_end(p), limit=limit, revision=revision)
        resp = await self._call(self._kv.Range, req)
        return ListResult([_kv(kv) for kv in resp.kvs], resp.header.revision, resp.more)

    async def create(self, key: str, value: bytes, ttl: int | None = None) -> int:
        k = key.encode()
        _check_size(k, value)
        lease = await self._lease(ttl) if ttl else 0
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.CREATE,
                                 result=rpc.Compare.EQUAL, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value,
                                                              lease=lease))],
            failure=[],
        )
        resp = await self._call(self._kv.Txn, req)
        if not resp.succeeded:
            raise KeyExistsError(key)
        return int(resp.header.revision)

    async def update(self, key: str, value: bytes, expected_mod_revision: int,
                     ttl: int | None = None) -> int:
        k = key.encode()
        _check_size(k, value)
        lease = await self._lease(ttl) if ttl else 0
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.MOD,
                                 result=rpc.Compare.EQUAL, mod_revision=expected_mod_revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value,
                                                              lease=lease))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call(self._kv.Txn, req)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs if resp.responses else []
            raise ConflictError(key, _kv(kvs[0]) if kvs else None)
        return int(resp.header.revision)

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> int:
        k = key.encode()
        compare = []
        if expected_mod_revision is not None:
            compare.append(rpc.Compare(key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                       mod_revision=expected_mod_revision))
        else:
            compare.append(rpc.Compare(key=k, target=rpc.Compare.CREATE,
                                       result=rpc.Compare.GREATER, create_revision=0))
        req = rpc.TxnRequest(
            compare=compare,
            success=[rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call(self._kv.Txn, req)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs if resp.responses else []
            if not kvs:
                raise KeyNotFoundError(key)
            raise ConflictError(key, _kv(kvs[0]))
        return int(resp.header.revision)

    async def current_revision(self) -> int:
        # A point lookup of a key that never exists: the header carries the revision.
        resp = await self._call(self._kv.Range,
                                rpc.RangeRequest(key=b"/registry/\0revision", count_only=True))
        return int(resp.header.revision)

    async def compact(self, revision: int) -> None:
        await self._call(self._kv.Compact, rpc.CompactionRequest(revision=revision))

    async def history(self, prefix: str, start_revision: int, end_revision: int,
                      timeout: float = 10.0) -> list[StorageEvent]:
        """The events under ``prefix`` with start_revision <= revision <= end_revision,
        with their previous values, read from etcd's history (CompactedError if etcd
        compacted ``start_revision``).

        The watch covers the whole keyspace and keeps the prefix's events: every
        revision is some key's event, so the events up to ``end_revision`` are known
        to be complete once one at or past it arrives (etcd sends a watcher's events in
        revision order, a revision's events together), even when the prefix itself
        has none. (etcd 3.4 answers a progress request before the history is sent,
        so it cannot tell.)"""
        p = prefix.encode()
        done = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=b"\0", range_end=b"\0", start_revision=start_revision, prev_kv=True))
            await done.wait()

        out: list[StorageEvent] = []
        call = self._watch.Watch(requests())
        try:
            async with asyncio.timeout(timeout):
                async for resp in call:
                    if resp.compact_revision:
                        raise CompactedError(int(resp.compact_revision))
                    if resp.canceled:
                        raise StorageError(f"etcd watch canceled: {resp.cancel_reason}")
                    complete = False
                    for ev in resp.events:
                        kv = ev.kv
                        rev = int(kv.mod_revision)
                        if rev >= end_revision:
                            complete = True
                        if rev > end_revision or not kv.key.startswith(p):
                            continue
                        prev = ev.prev_kv.value if ev.HasField("prev_kv") else None
                        out.append(StorageEvent("PUT" if ev.type == 0 else "DELETE",
                                                kv.key.decode(),
                                                kv.value if ev.type == 0 else None, prev, rev))
                    if complete:
                        return out
            raise StorageError("etcd watch stream ended")
        except TimeoutError:
            raise StorageError("etcd history: timed out") from None
        except grpc.aio.AioRpcError as e:
            raise _wrap(e) from None
        finally:
            done.set()
            call.cancel()

    async def watch(self, prefix: str, start_revision: int,
                    progress_requests: asyncio.Queue[bool] | None = None
                    ) -> AsyncIterator[list[StorageEvent]]:
        """``progress_requests``: each True put there sends etcd a progress request on
        this watch's stream; etcd's answers (and its periodic progress notifications)
        come as a batch of one ``PROGRESS`` event whose revision is the response
        header's (Kubernetes' RequestWatchProgress). Without it they are skipped."""
        p = prefix.encode()
        done = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=p, range_end=prefix_end(p), start_revision=start_revision,
                progress_notify=True))
            if progress_requests is None:
                await done.wait()
                return
            while await progress_requests.get():
                yield rpc.WatchRequest(progress_request=rpc.WatchProgressRequest())

        call = self._watch.Watch(requests())
        try:
            async for resp in call:
                if resp.compact_revision:
                    raise CompactedError(int(resp.compact_revision))
                if resp.canceled:
                    raise StorageError(f"etcd watch canceled: {resp.cancel_reason}")
                if not resp.events:
                    if progress_requests is not None and not resp.created:
                        yield [StorageEvent("PROGRESS", "", None, None,
                                            int(resp.header.revision))]
                    continue
                batch: list[StorageEvent] = []
                for ev in resp.events:
                    kv = ev.kv
                    # The cache keeps the previous object itself, so no prev_kv is asked
                    # for (it makes etcd read every old value).
                    prev = None
                    if ev.type == 0:  # PUT
                        batch.append(StorageEvent("PUT", kv.key.decode(), kv.value, prev,
                                                  int(kv.mod_revision)))
                    else:
                        batch.append(StorageEvent("DELETE", kv.key.decode(), None, prev,
                                                  int(kv.mod_revision)))
                yield batch
            raise StorageError("etcd watch stream ended")
        except grpc.aio.AioRpcError as e:
            raise _wrap(e) from None
        finally:
            done.set()
            if progress_requests is not None:
                progress_requests.put_nowait(False)  # ends the request stream
            call.cancel()
