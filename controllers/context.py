"""What every controller of the manager shares: the client, one informer factory, the
event recorder, and the command-line options."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from api.models import TypedObject
from client import AsyncClient, Conflict
from client.controller import Result
from client.informer import SharedInformerFactory

log = logging.getLogger(__name__)


class Recorder(Protocol):
    def event(self, obj: TypedObject, type_: str, reason: str, message: str) -> None: ...


@dataclass
class Options:
    node_monitor_grace_period: float = 40.0
    default_unreachable_toleration_seconds: int = 300
    # how often a node's health is looked at even when nothing changed
    node_monitor_period: float = 5.0
    workers: dict[str, int] = field(default_factory=dict)


@dataclass
class ControllerContext:
    client: AsyncClient
    factory: SharedInformerFactory
    recorder: Recorder
    options: Options = field(default_factory=Options)


def retry_conflicts(fn: Callable[[str], Awaitable[Result | None]]
                    ) -> Callable[[str], Awaitable[Result | None]]:
    """A 409 means our cache was behind a write (often our own): not an error worth a
    traceback, just a rate-limited retry once the informer has caught up."""
    @functools.wraps(fn)
    async def wrapper(key: str) -> Result | None:
        try:
            return await fn(key)
        except Conflict as exc:
            log.debug("%s: conflict on %s, retrying: %s", fn.__qualname__, key, exc.message)
            return Result(requeue=True)
    return wrapper
