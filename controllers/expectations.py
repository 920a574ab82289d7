"""Controller expectations: what a controller has asked for and not yet seen in its cache.

A controller that creates pods and then reconciles again before its informer has
delivered them would count too few pods and create them twice. So before writing it
records how many creates (and which deletes) it expects; the informer handlers
lower the counts as the events arrive, and the controller does not manage replicas
again until the counts reach zero, or until the expectations are five minutes old
(a lost watch event must not wedge the controller forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT = 5 * 60.0


@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0

    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.deletes


class Expectations:
    """Per controller-key expectations of creates (a count) and deletes (pod keys)."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._by_key: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """True when the controller may act: nothing pending, expired, or never recorded."""
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if exp.fulfilled():
            return True
        return self._clock() - exp.timestamp > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        self._by_key[key] = _Expectation(adds=count, timestamp=self._clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self._by_key[key] = _Expectation(deletes=set(pod_keys), timestamp=self._clock())

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None and exp.adds > 0:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def pending(self, key: str) -> tuple[int, int]:
        exp = self._by_key.get(key)
        return (0, 0) if exp is None else (max(exp.adds, 0), len(exp.deletes))

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)
