"""What every controller of the manager shares: the client, one informer factory, the
event recorder, and the command-line options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from api.models import TypedObject
from client import AsyncClient
from client.informer import SharedInformerFactory


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
