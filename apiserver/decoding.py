"""Bounds on what a request body may decode to: nesting depth, YAML aliases, int64.

The server's code walks objects recursively (validation, defaulting, merge patches,
serialization), so a body nested deeper than MAX_DEPTH is refused once, where it is
decoded, instead of failing with a RecursionError wherever a walk first reaches the
bottom. YAML aliases are refused: a recursive alias (``a: &a [*a]``) is a cycle no walk
ends on, and aliases that refer to each other expand a small body into gigabytes.
Imports nothing of ours, so every decoder (routes, patches) can use it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# Deeper than any Kubernetes object (a CRD's schema included) and shallow enough that
# the recursive walks stay far from Python's recursion limit (1,000 frames).
MAX_DEPTH = 100
INT64_MAX = 2**63 - 1


class DecodeError(ValueError):
    """A body that cannot be decoded within the bounds (a 400 BadRequest)."""


def too_deep(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``doc`` nests dicts/lists more than ``limit`` levels (iterative: it never
    recurses itself, and a cycle counts as too deep)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in v if isinstance(x, dict | list))
    return False


def check_depth(doc: Any) -> None:
    if too_deep(doc):
        raise DecodeError(f"exceeded max depth of {MAX_DEPTH}")


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors/aliases (see the module's docstring)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not supported")
        return super().compose_node(parent, index)


# Quoted scalars and comments, whose brackets nest nothing.
_NOT_FLOW = re.compile(rb'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'|#[^\n]*')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def flow_too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data``'s flow collections (``{``/``[``) nest deeper than ``limit``,
    outside quoted scalars and comments: checked before parsing, since PyYAML's parser
    recurses per level and takes seconds to fail on a few thousand."""
    depth = 0
    for c in _NOT_FLOW.sub(b"", data).translate(None, _NOT_BRACKETS):
        if c == 0x5B or c == 0x7B:  # [ {
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def load_yaml(data: bytes | str) -> Any:
    """One YAML document, without aliases and at most MAX_DEPTH deep (DecodeError)."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and flow_too_deep(raw):
        raise DecodeError(f"exceeded max depth of {MAX_DEPTH}")
    try:
        doc = yaml.load(data, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        raise DecodeError(str(e)) from None
    except RecursionError:  # the parser recurses once per flow collection: "{{{{..."
        raise DecodeError(f"exceeded max depth of {MAX_DEPTH}") from None
    check_depth(doc)
    return doc


def check_json_depth(body: bytes, doc: Any) -> None:
    """check_depth for a decoded JSON body, walked only when the body has more brackets
    than the limit (an object a level deeper than MAX_DEPTH needs that many)."""
    if len(body) > 2 * MAX_DEPTH and body.count(b"{") + body.count(b"[") > MAX_DEPTH:
        check_depth(doc)


def parse_revision(value: str) -> int:
    """A resourceVersion as etcd's int64 revision (ValueError for anything else)."""
    rv = int(value)
    if rv < 0 or rv > INT64_MAX:
        raise ValueError(value)
    return rv
