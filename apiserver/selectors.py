"""Label and field selectors compiled to one predicate over stored object dicts.

The server filters lists and every watch event with these, so they work on the
plain dicts the cache holds (no model round trip) and are compiled once per request.
The grammar lives in ``api.labels`` / ``api.fields``, shared with the clients; the
fields a kind selects on are its strategy's ``selectable_fields``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.fields import parse_field_selector
from api.labels import SelectorError, parse_selector
from api.resources import ResourceInfo
from apiserver.errors import bad_request
from apiserver.strategies import strategy_for

JSONDict = dict[str, Any]
Predicate = Callable[[JSONDict], bool]


def make_filter(info: ResourceInfo, namespace: str | None, label_selector: str | None,
                field_selector: str | None, name: str | None = None) -> Predicate | None:
    """One predicate for namespace + name + label selector + field selector; None = all."""
    preds: list[Predicate] = []
    try:
        if label_selector and label_selector.strip():
            ls = parse_selector(label_selector)
            if not ls.empty or ls.matches_nothing:
                preds.append(lambda o: ls.matches((o.get("metadata") or {}).get("labels")))
        if field_selector and field_selector.strip():
            fs = parse_field_selector(field_selector)
            allowed = strategy_for(info).selectable_fields
            for term in fs.terms:
                if term.field not in allowed:
                    raise SelectorError(f"field label not supported: {term.field}")
            if not fs.empty:
                preds.append(fs.matches)
    except SelectorError as e:
        raise bad_request(str(e)) from None
    except (ValueError, TypeError) as e:
        raise bad_request(f"unable to parse selector: {e}") from None
    if namespace is not None and info.namespaced:
        preds.insert(0, lambda o: (o.get("metadata") or {}).get("namespace") == namespace)
    if name is not None:
        preds.insert(0, lambda o: (o.get("metadata") or {}).get("name") == name)
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return lambda o: all(p(o) for p in preds)
