"""Stopping background tasks, written once: cancel them, then wait until each has
really finished, so that nothing a service started outlives its ``stop()``.

Every service had its own copy of this loop; the subtle parts are the same
everywhere: cancel all before awaiting any (so they wind down in parallel), and do
not let one task's error or cancellation skip awaiting the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any] | None]) -> None:
    """Cancel every task (``None`` entries are skipped), then wait until all are done;
    their results, errors and cancellations are consumed (no "exception was never
    retrieved"). A cancellation of the caller itself is not swallowed."""
    pending = [t for t in tasks if t is not None]
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending)
    for t in pending:
        if not t.cancelled():
            t.exception()
