"""What every minik8s service's entry point does the same way: its log format, the types of
its address flags, and running until SIGTERM or SIGINT asks it to stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
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


def cidr_flag(text: str) -> str:
    """An argparse type: a CIDR, normalised (10.244.1.7/16 -> 10.244.0.0/16)."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}") from exc


def bind_address_flag(text: str) -> tuple[str, int]:
    """An argparse type: HOST:PORT (an empty host is 0.0.0.0), as --healthz-bind-address."""
    host, _, port = text.rpartition(":")
    try:
        return host or "0.0.0.0", int(port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid address {text!r} (HOST:PORT)") from exc


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set, on the running loop: a service's ``stop``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def run_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``serve(stop)`` on a new event loop; SIGTERM and SIGINT set ``stop``."""
    async def run() -> None:
        await serve(stop_on_signals())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def run_and_exit(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Run ``main`` on a new event loop and exit with its code (0 after ^C)."""
    try:
        sys.exit(asyncio.run(main))
    except KeyboardInterrupt:
        sys.exit(0)
