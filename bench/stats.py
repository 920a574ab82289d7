"""What several benchmarks share: bounded concurrency, nearest-rank percentiles and latency
summaries."""

from __future__ import annotations

import asyncio
from typing import Any


async def gather_limited(n: int, coros: Any) -> list[Any]:
    """Await ``coros`` with at most ``n`` running at once; their results in order."""
    sem = asyncio.Semaphore(n)

    async def one(c: Any) -> Any:
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


def pct(xs: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by nearest rank; NaN for no samples."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def latency_summary(xs: list[float]) -> dict[str, Any]:
    """Latencies in seconds as n, p50, p99 and max in milliseconds (one decimal)."""
    ms = [x * 1000 for x in xs]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None}
