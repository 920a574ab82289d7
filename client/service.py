"""What every minik8s service's entry point does the same way: its log format, and running
until SIGTERM or SIGINT asks it to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn


def setup_logging(verbose: bool) -> None:
    """One format for every service; DEBUG with ``verbose``, else INFO without the HTTP
    libraries' line per request (noise at a service's request rate)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def run_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``serve(stop)`` on a new event loop; SIGTERM and SIGINT set ``stop``."""
    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def run_and_exit(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Run ``main`` on a new event loop and exit with its code (0 after ^C)."""
    try:
        sys.exit(asyncio.run(main))
    except KeyboardInterrupt:
        sys.exit(0)
