"""Per-key exponential back-off, as the kubelet's flowcontrol.Backoff does it.

Crash loops and image pulls both use it: the first failure is retried at once, the
next after ``base``, then doubling to ``cap``. An entry untouched for ``2 * cap``
is forgotten, so a container that ran fine for a long time starts over at ``base``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, base: float = 10.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def remaining(self, key: str, since: float, now: float | None = None) -> float:
        """Seconds left of the back-off that started at ``since`` (0 when none)."""
        now = time.time() if now is None else now
        e = self._entries.get(key)
        if e is None or now - e.last_update > 2 * self.cap:
            return 0.0
        return max(0.0, since + e.delay - now)

    def next(self, key: str, now: float | None = None) -> float:
        """Record one more failure; returns the delay the following one will wait."""
        now = time.time() if now is None else now
        e = self._entries.get(key)
        if e is None or now - e.last_update > 2 * self.cap:
            e = _Entry(self.base, now)
        else:
            e = _Entry(min(e.delay * 2, self.cap), now)
        self._entries[key] = e
        return e.delay

    def current(self, key: str) -> float:
        e = self._entries.get(key)
        return e.delay if e else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
