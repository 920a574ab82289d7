"""Range allocators in etcd: the Service ClusterIPs and NodePorts.

After kube-apiserver's pkg/registry/core/service/allocator (bitmap.go, the
AllocationBitmap over a big.Int, and storage/storage.go, the Etcd allocator that
keeps the bitmap in one etcd key as a RangeAllocation and updates it with a
compare-and-swap), ipallocator (the range of a CIDR without its network and
broadcast addresses) and portallocator (a port range ``30000-32767``).

One key per range (``/registry/ranges/serviceips``, ``/registry/ranges/
servicenodeports``) holds ``{"range": ..., "data": base64(bitmap)}``, the bitmap as
big.Int.Bytes() writes it (big-endian, bit i = offset i allocated). Every change is a
CAS on that key's revision; a lost race re-reads and re-applies the change, so two
API servers (or a repair pass) never hand out the same item. Within this server a
lock orders the changes, so concurrent requests do not race each other into retries.

Dynamic allocation prefers the upper part of the range and leaves the first
``offset`` items for requested values (calculateRangeOffset, KEP-3070): NodePorts
from a random start in that band, as Kubernetes; ClusterIPs take the lowest free
address of the band, which keeps the stored bitmap small for a /12 (Kubernetes scans
from a random start, which spreads allocations of several API servers; here one
server orders them and the CAS still guards the rest). Concurrent changes are written
together in one CAS (group commit), so a burst of creates costs a few etcd round trips.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from api.timeutil import now
from apiserver.storage import ConflictError, KeyExistsError, Storage

Item = Any  # an IP string or a port number


class AllocationError(Exception):
    """A requested item cannot be had; ``str`` is Kubernetes' message, ``index`` the
    position of the refused request in ``Change.allocate``."""

    index: int = 0


class ErrAllocated(AllocationError):
    pass


class ErrNotInRange(AllocationError):
    pass


class ErrFull(AllocationError):
    def __init__(self) -> None:
        super().__init__("range is full")


class Range:
    """Offsets 0..size-1 of a range of items."""

    size: int
    offset: int  # the start of the band for dynamic allocation
    spec: str  # the range as configured (stored with the bitmap)

    def index(self, item: Item) -> int | None:
        raise NotImplementedError

    def item(self, index: int) -> Item:
        raise NotImplementedError

    def not_in_range(self, item: Item) -> ErrNotInRange:
        raise NotImplementedError

    def allocated_error(self) -> ErrAllocated:
        raise NotImplementedError


def _range_offset(size: int, lo: int, hi: int, step: int) -> int:
    """calculateRangeOffset: max(lo, min(size/step, hi)), or 0 for tiny ranges."""
    if size < lo:
        return 0
    return max(lo, min(size // step, hi))


class IPRange(Range):
    """ipallocator.NewCIDRRange: the CIDR without its network address (and an IPv4
    one without its broadcast address); IPv6 ranges are capped at 65536 addresses."""

    def __init__(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        self.net = net
        self.spec = str(net)
        size = net.num_addresses
        if net.version == 6:
            size = min(size, 65536)
        else:
            size -= 1  # the broadcast address
        size -= 1  # the network address
        self.size = max(size, 0)
        self.base = int(net.network_address) + 1
        self.offset = _range_offset(self.size, 16, 256, 16)

    def index(self, item: Item) -> int | None:
        try:
            ip = ipaddress.ip_address(str(item))
        except ValueError:
            return None
        if ip.version != self.net.version:
            return None
        i = int(ip) - self.base
        return i if 0 <= i < self.size else None

    def item(self, index: int) -> Item:
        return str(ipaddress.ip_address(self.base + index))

    def not_in_range(self, item: Item) -> ErrNotInRange:
        return ErrNotInRange(f"the provided IP ({item}) is not in the valid range. The range "
                             f"of valid IPs is {self.spec}")

    def allocated_error(self) -> ErrAllocated:
        return ErrAllocated("provided IP is already allocated")


class PortRange(Range):
    """portallocator over ``net.PortRange`` (``30000-32767``, both ends included)."""

    def __init__(self, spec: str) -> None:
        self.lo, self.hi = parse_port_range(spec)
        self.spec = f"{self.lo}-{self.hi}"
        self.size = self.hi - self.lo + 1
        self.offset = _range_offset(self.size, 16, 128, 32)

    def index(self, item: Item) -> int | None:
        if not isinstance(item, int) or isinstance(item, bool):
            return None
        i = item - self.lo
        return i if 0 <= i < self.size else None

    def item(self, index: int) -> Item:
        return self.lo + index

    def not_in_range(self, item: Item) -> ErrNotInRange:
        return ErrNotInRange(f"provided port is not in the valid range. The range of valid "
                             f"ports is {self.spec}")

    def allocated_error(self) -> ErrAllocated:
        return ErrAllocated("provided port is already allocated")


def parse_port_range(spec: str) -> tuple[int, int]:
    """net.ParsePortRange: ``lo-hi`` or ``lo+n`` (lo..lo+n) or a single port."""
    s = spec.strip()
    try:
        if "+" in s:
            a, b = s.split("+", 1)
            lo, hi = int(a), int(a) + int(b)
        elif "-" in s:
            a, b = s.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(s)
    except ValueError:
        raise ValueError(f"invalid port range {spec!r}") from None
    if not (0 < lo <= hi <= 65535):
        raise ValueError(f"invalid port range {spec!r}")
    return lo, hi


def encode_bitmap(bits: int) -> str:
    """big.Int.Bytes(), base64: big-endian, no leading zero bytes."""
    return base64.b64encode(bits.to_bytes((bits.bit_length() + 7) // 8, "big")).decode()


def decode_bitmap(data: str) -> int:
    return int.from_bytes(base64.b64decode(data or ""), "big")


def lowest_free(bits: int, start: int, stop: int) -> int | None:
    """The lowest clear bit in [start, stop)."""
    if start >= stop:
        return None
    free = ~(bits >> start)
    i = (free & -free).bit_length() - 1 + start
    return i if i < stop else None


@dataclass
class Change:
    """What one transaction asks: items to allocate (None: any free one) and to release."""

    allocate: Sequence[Item | None] = ()
    release: Sequence[Item] = ()


class RangeAllocator:
    """A bitmap of one Range kept in one etcd key, changed only by CAS."""

    def __init__(self, storage: Storage, key: str, rng: Range, *,
                 random_scan: bool = True) -> None:
        self.storage = storage
        self.key = key
        self.range = rng
        self.random_scan = random_scan
        self._lock = asyncio.Lock()
        self._bits = 0
        self._rev = 0  # the key's mod_revision; 0: not in etcd yet
        self._loaded = False
        self._rand = random.Random()
        self._queue: list[tuple[Change, asyncio.Future[list[Item]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # ---- the bitmap -----------------------------------------------------------------

    def _pick(self, bits: int) -> int | None:
        """randomScanStrategyWithOffset: a free offset in the upper band, else below it."""
        size, off = self.range.size, self.range.offset
        if not self.random_scan:
            i = lowest_free(bits, off, size)
            return i if i is not None else lowest_free(bits, 0, off)
        for lo, hi in ((off, size), (0, off)):
            n = hi - lo
            if n <= 0:
                continue
            start = self._rand.randrange(n)
            for k in range(n):
                i = lo + (start + k) % n
                if not bits >> i & 1:
                    return i
        return None

    def apply(self, bits: int, change: Change) -> tuple[int, list[Item]]:
        """``change`` applied to ``bits``: the new bitmap and the items allocated (in the
        order asked). Raises AllocationError and changes nothing on a refusal."""
        got: list[Item] = []
        for item in change.release:
            i = self.range.index(item)
            if i is not None:
                bits &= ~(1 << i)
        for n, item in enumerate(change.allocate):
            err: AllocationError | None = None
            if item is None:
                picked = self._pick(bits)
                if picked is None:
                    err = ErrFull()
                i = picked or 0
            else:
                idx = self.range.index(item)
                if idx is None:
                    err = self.range.not_in_range(item)
                elif bits >> idx & 1:
                    err = self.range.allocated_error()
                i = idx or 0
            if err is not None:
                err.index = n
                raise err
            bits |= 1 << i
            got.append(self.range.item(i))
        return bits, got

    # ---- etcd ---------------------------------------------------------------------

    def _encode(self, bits: int) -> bytes:
        return orjson.dumps({"kind": "RangeAllocation", "apiVersion": "v1",
                             "metadata": {"creationTimestamp": now()},
                             "range": self.range.spec, "data": encode_bitmap(bits)})

    def _decode(self, value: bytes) -> int:
        """The stored bitmap; one of another range (the flag changed) counts as empty:
        the repair pass marks what Services hold."""
        try:
            obj = orjson.loads(value)
            if obj.get("range") != self.range.spec:
                return 0
            bits = decode_bitmap(str(obj.get("data") or ""))
        except (orjson.JSONDecodeError, ValueError, AttributeError, TypeError):
            return 0
        return bits & ((1 << self.range.size) - 1)

    async def _load(self) -> None:
        kv = await self.storage.get(self.key)
        if kv is None:
            self._bits, self._rev = 0, 0
        else:
            self._bits, self._rev = self._decode(kv.value), kv.mod_revision
        self._loaded = True

    async def snapshot(self) -> tuple[int, int]:
        """The stored bitmap and its revision, read from etcd now."""
        async with self._lock:
            await self._load()
            return self._bits, self._rev

    async def change(self, change: Change, dry_run: bool = False) -> list[Item]:
        """Apply ``change`` atomically; the items allocated. With ``dry_run`` only
        what would be allocated.

        Changes that arrive while a write is in flight are committed together, in one
        CAS (group commit): each is applied in arrival order to the bitmap the previous
        ones left, and one refused does not hold back the others. A caller cancelled
        after its change was written leaves its items allocated until the repair pass."""
        if dry_run:
            return await self.update(lambda bits: self.apply(bits, change), dry_run)
        fut: asyncio.Future[list[Item]] = asyncio.get_running_loop().create_future()
        self._queue.append((change, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"alloc {self.key}")
        return await fut

    async def _flush(self) -> None:
        async with self._lock:
            while self._queue:
                batch, self._queue = self._queue, []
                batch = [(c, f) for c, f in batch if not f.done()]
                try:
                    await self._commit(batch)
                except Exception as e:
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(e)

    async def _commit(self, batch: list[tuple[Change, asyncio.Future[list[Item]]]]) -> None:
        """One CAS for the whole batch, retried with a fresh read when the key moved."""
        for _ in range(32):
            if not self._loaded:
                await self._load()
            bits = self._bits
            results: list[tuple[asyncio.Future[list[Item]], list[Item] | Exception]] = []
            for change, f in batch:
                try:
                    bits, got = self.apply(bits, change)
                    results.append((f, got))
                except AllocationError as e:
                    results.append((f, e))
            if bits != self._bits:
                try:
                    await self._write(bits)
                except (ConflictError, KeyExistsError):
                    self._loaded = False
                    continue
            for f, r in results:
                if f.done():
                    continue
                if isinstance(r, Exception):
                    f.set_exception(r)
                else:
                    f.set_result(r)
            return
        raise ConflictError(self.key, None)

    async def _write(self, bits: int) -> None:
        """CAS ``bits`` over the revision last read; ConflictError / KeyExistsError when
        the key moved."""
        try:
            if self._rev == 0:
                rev = await self.storage.create(self.key, self._encode(bits))
            else:
                rev = await self.storage.update(self.key, self._encode(bits), self._rev)
        except (ConflictError, KeyExistsError):
            raise
        except BaseException:
            self._loaded = False  # unknown outcome: read it again next time
            raise
        self._bits, self._rev = bits, rev

    async def update(self, fn: Callable[[int], tuple[int, list[Item]]],
                     dry_run: bool = False, expected_rev: int | None = None) -> list[Item]:
        """Read-modify-CAS of the bitmap with ``fn``, retried with a fresh read when the
        key moved (unless ``expected_rev`` pins the revision it must still be at, then
        ConflictError)."""
        async with self._lock:
            for _ in range(32):
                if not self._loaded or expected_rev is not None:
                    await self._load()
                if expected_rev is not None and self._rev != expected_rev:
                    raise ConflictError(self.key, None)
                bits, got = fn(self._bits)
                if dry_run or bits == self._bits:
                    return got
                try:
                    await self._write(bits)
                except (ConflictError, KeyExistsError):
                    self._loaded = False
                    if expected_rev is not None:
                        raise ConflictError(self.key, None) from None
                    continue
                return got
            raise ConflictError(self.key, None)

    def allocated(self, bits: int) -> list[Item]:
        """The items set in ``bits``."""
        out = []
        while bits:
            low = bits & -bits
            out.append(self.range.item(low.bit_length() - 1))
            bits ^= low
        return out

    def free_count(self) -> int:
        return self.range.size - bin(self._bits).count("1")
