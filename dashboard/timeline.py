"""The timeline of an object: the tree ``minictl trace`` prints (client.trace), as JSON
for the page's Gantt chart. Every list is made with the signed-in user's client."""

from __future__ import annotations

import asyncio
from typing import Any

from api import resources
from api.models import Event, Pod, ReplicaSet, TypedObject
from client.rest import AsyncClient
from client.trace import Step, Tracer


def _json(s: Step) -> dict[str, Any]:
    text, _, src = s.text.rpartition("  [") if s.text.endswith("]") else (s.text, "", "")
    return {"text": text or s.text, "component": src.rstrip("]") if text else "",
            "at": s.at.isoformat().replace("+00:00", "Z") if s.at else None,
            "warning": s.warning, "children": [_json(c) for c in s.children]}


async def trace(client: AsyncClient, kind: str, namespace: str | None, name: str
                ) -> dict[str, Any]:
    info = resources.lookup(kind)
    if info is None:
        raise ValueError(f'the server doesn\'t have a resource type "{kind}"')
    if not name:
        raise ValueError("a name is required")
    ns = (namespace or "default") if info.namespaced else None
    obj = await client.get(info.model, name, ns)
    models: list[type[TypedObject]] = [ReplicaSet, Pod] if ns else []
    events, *lists = await asyncio.gather(client.list_all(Event, ns),
                                          *(client.list_all(m, ns) for m in models))
    have: dict[type[TypedObject], list[TypedObject]] = {
        m: list(getattr(lst, "items", [])) for m, lst in zip(models, lists, strict=True)}

    def lister(model: type[TypedObject], _ns: str | None) -> list[TypedObject]:
        return have.get(model, [])

    root = Tracer(getattr(events, "items", []), lister).tree(info, obj)
    return _json(root)
