"""Back-off, written once for every service: how long to wait before trying again.

Three shapes of the same idea, as Kubernetes has them:

- ``exponential(attempt, base, cap)``: the delay of the n-th retry (``base * 2**n``,
  capped); the workqueue's per-item rate limiter (client-go
  ``ItemExponentialFailureRateLimiter``) and the REST client's retry policy use it.
- ``Backoff``: one stream of retries with jitter (client-go ``wait.Backoff`` /
  ``JitterUntil``), for loops that reconnect: informers' re-list and watch, the
  event writer.
- ``KeyedBackoff``: a back-off per key that remembers when it last grew and forgets
  idle keys (the kubelet's ``flowcontrol.Backoff``): crash loops and image pulls.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


def exponential(attempt: int, base: float, cap: float) -> float:
    """The delay before retry number ``attempt`` (0-based): ``base * 2**attempt``, at most
    ``cap``. Large attempts do not overflow."""
    if attempt >= 64:
        return cap
    return float(min(cap, base * 2.0 ** attempt))


def jittered(delay: float, jitter: float) -> float:
    """``delay`` spread uniformly over ``[delay * (1 - jitter), delay * (1 + jitter)]``."""
    return delay * random.uniform(1.0 - jitter, 1.0 + jitter)


class Backoff:
    """Jittered exponential back-off with a cap for one retry loop; ``reset()`` after a
    healthy period. ``next()`` returns the delay to wait now and grows the next one."""

    def __init__(self, initial: float = 0.2, maximum: float = 10.0, factor: float = 2.0,
                 jitter: float = 0.2) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._next = initial

    def next(self) -> float:
        d = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return jittered(d, self.jitter)

    def reset(self) -> None:
        self._next = self.initial


@dataclass
class _Entry:
    delay: float
    last_update: float


class KeyedBackoff:
    """Per-key exponential back-off, as the kubelet's flowcontrol.Backoff does it.

    The first failure of a key is retried after ``base``, then doubling to ``cap``. An
    entry untouched for ``2 * cap`` is forgotten, so something that ran fine for a long
    time starts over at ``base``. Times are wall-clock seconds (``time.time()``), so that
    a ``since`` read from an object's status can be compared with them.
    """

    def __init__(self, base: float = 10.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def _live(self, key: str, now: float) -> _Entry | None:
        e = self._entries.get(key)
        if e is None or now - e.last_update > 2 * self.cap:
            return None
        return e

    def remaining(self, key: str, since: float, now: float | None = None) -> float:
        """Seconds left of the back-off that started at ``since`` (0 when none)."""
        now = time.time() if now is None else now
        e = self._live(key, now)
        return 0.0 if e is None else max(0.0, since + e.delay - now)

    def next(self, key: str, now: float | None = None) -> float:
        """Record one more failure; returns the delay the following one will wait."""
        now = time.time() if now is None else now
        e = self._live(key, now)
        delay = self.base if e is None else min(e.delay * 2, self.cap)
        self._entries[key] = _Entry(delay, now)
        return delay

    def current(self, key: str) -> float:
        e = self._entries.get(key)
        return e.delay if e else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
