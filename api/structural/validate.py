"""Validating a custom object against its compiled schema.

Three Kubernetes passes in one walk:
- kube-openapi's SchemaValidator (pkg/validation/validate: type, format, string, enum,
  slice, number and object validators, allOf/anyOf/oneOf/not) with its errors turned into
  field errors as apiextensions' kubeOpenAPIResultToFieldErrList does (paths
  ``spec.items[0].name``, messages ``spec.replicas in body must be of type integer:
  "string"``);
- schema/objectmeta's embedded-resource checks and schema/listtype's set/map uniqueness;
- schema/cel's x-kubernetes-validations (after the others, as Kubernetes appends them).

Nothing here raises on any JSON value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from api.names import is_dns1035_label, is_dns1123_subdomain
from api.structural import cel, formats
from api.structural.schema import Node
from api.validation.field import (
    DUPLICATE,
    INVALID,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    forbidden,
    invalid,
    not_supported,
    required,
)
from api.validation.meta import validate_annotations, validate_labels

Errs = list[FieldError]
ROOT = "<nil>"
MAX_DEPTH = 256


def go_value(v: Any) -> str:
    """A number as Go's %v prints it (integral floats without a fraction)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    return str(v)


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality (true is not 1; 1 equals 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return a == b if isinstance(a, str) and isinstance(b, str) else False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a is None and b is None


def _hashable(v: Any) -> Any:
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return (t, v)
    if t is float:
        return (int, int(v)) if v.is_integer() else (t, v)
    try:
        return ("s", json.dumps(v, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):
        return ("r", repr(v))


def _fp(path: str) -> str:
    return path or ROOT


_OK: dict[type, tuple[str, ...]] = {
    str: ("", "string"), dict: ("", "object"), list: ("", "array"), bool: ("", "boolean"),
    int: ("", "integer", "number"), float: ("", "number"),
}
_NOTHING: tuple[str, ...] = ()


def _integral(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v.is_integer()


def _json_class(v: Any) -> type:
    """The JSON class of a value whose type is a subclass (or not JSON at all)."""
    for c in (bool, int, float, str, list):
        if isinstance(v, c):
            return c
    if isinstance(v, Mapping):
        return dict
    return type(v)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _enum_values(enum: list[Any]) -> list[str]:
    out: list[str] = []
    for e in enum:
        if isinstance(e, str):
            out.append(e)
        else:
            try:
                out.append(json.dumps(e, separators=(",", ":")))
            except (TypeError, ValueError):
                out.append(repr(e))
    return out


class _Missing:
    pass


class Walker:
    """One validate() call: the error lists and the CEL budget."""

    def __init__(self, with_cel: bool) -> None:
        self.errs: Errs = []
        self.cel_errs: Errs = []
        self.with_cel = with_cel
        self.budget: cel.Budget | None = None
        self.out_of_budget = False

    # ---- kube-openapi ---------------------------------------------------------

    def value(self, v: Any, s: Node, path: str, depth: int = 0) -> None:
        """The openapi checks of ``v`` under ``s`` (also used for allOf/anyOf/... nodes)."""
        errs = self.errs
        if depth > MAX_DEPTH:
            errs.append(invalid(_fp(path), "", "nested too deeply"))
            return
        t: type = type(v)
        ok = _OK.get(t)
        if ok is None:
            if v is None:
                if s.type and not s.nullable:
                    errs.append(FieldError(_fp(path), TYPE_INVALID,
                                           f'{path} in body must be of type {s.type}: "null"',
                                           "null"))
                return
            t = _json_class(v)
            ok = _OK.get(t, _NOTHING)
        st = s.type
        if st not in ok and not (st == "integer" and t is float and _integral(v)):
            jt = json_type(v)
            errs.append(FieldError(_fp(path), TYPE_INVALID,
                                   f'{path} in body must be of type {st}: "{jt}"', jt))
        elif s.ios_check and t is not str and t is not int:
            jt = json_type(v)
            errs.append(FieldError(_fp(path), TYPE_INVALID,
                                   f'{path} in body must be of type integer,string: "{jt}"',
                                   jt))
        if s.junctors:
            self._junctors(v, s, path, depth)
        if t is str:
            if s.str_checks:
                self._string(v, s, path)
        if s.enum is not None and not (t is str and v in s.enum_strs) and not any(
                json_equal(v, e) for e in s.enum):
            errs.append(not_supported(_fp(path), v, _enum_values(s.enum)))
        if t is dict:
            self._object(v, s, path, depth)
        elif t is list:
            self._array(v, s, path, depth)
        elif (t is int or t is float) and s.num_checks:
            self._number(v, s, path)

    def _string(self, v: str, s: Node, path: str) -> None:
        if s.max_length is not None and len(v) > s.max_length:
            n = s.max_length
            self.errs.append(FieldError(_fp(path), "FieldValueTooLong",
                                        f"may not be more than {n} byte{'s' if n != 1 else ''}",
                                        v))
        if s.min_length is not None and len(v) < s.min_length:
            self.errs.append(invalid(_fp(path), v,
                                     f"{path} in body should be at least {s.min_length} "
                                     "chars long"))
        if s.pattern is not None:
            try:
                ok = s.pattern.search(v) is not None
            except Exception:
                ok = False
            if not ok:
                self.errs.append(invalid(_fp(path), v,
                                         f"{path} in body should match '{s.pattern_src}'"))
        if s.format and not formats.valid(s.format, v):
            self.errs.append(FieldError(_fp(path), TYPE_INVALID,
                                        f"{path} in body must be of type {s.format}: "
                                        + json.dumps(v), v))

    def _number(self, v: float, s: Node, path: str) -> None:
        if s.multiple_of is not None:
            q = v / s.multiple_of
            if not (math.isfinite(q) and q == math.floor(q)):
                self.errs.append(invalid(_fp(path), v, f"{path} in body should be a multiple "
                                                       f"of {go_value(s.multiple_of)}"))
        if s.maximum is not None:
            if v > s.maximum or (s.exclusive_maximum and v == s.maximum):
                op = "less than" if s.exclusive_maximum else "less than or equal to"
                self.errs.append(invalid(_fp(path), v, f"{path} in body should be {op} "
                                                       f"{go_value(s.maximum)}"))
        if s.minimum is not None:
            if v < s.minimum or (s.exclusive_minimum and v == s.minimum):
                op = "greater than" if s.exclusive_minimum else "greater than or equal to"
                self.errs.append(invalid(_fp(path), v, f"{path} in body should be {op} "
                                                       f"{go_value(s.minimum)}"))

    def _array(self, v: list[Any], s: Node, path: str, depth: int) -> None:
        items = s.items
        if items is not None:
            leaf = items.leaf_types
            for i, x in enumerate(v):
                if type(x) in leaf:
                    continue  # a scalar of the right type under a schema with no checks
                self.value(x, items, f"{path}[{i}]", depth + 1)
        n = len(v)
        if s.min_items is not None and n < s.min_items:
            self.errs.append(invalid(_fp(path), n, f"{path} in body should have at least "
                                                   f"{s.min_items} items"))
        if s.max_items is not None and n > s.max_items:
            self.errs.append(FieldError(_fp(path), TOO_MANY,
                                        f"must have at most {s.max_items} items", n))
        if s.unique_items:
            seen: set[Any] = set()
            for x in v:
                h = _hashable(x)
                if h in seen:
                    self.errs.append(invalid(_fp(path), "", f"{path} in body shouldn't "
                                                            "contain duplicates"))
                    break
                seen.add(h)

    def _object(self, v: Mapping[str, Any], s: Node, path: str, depth: int) -> None:
        n = len(v)
        if s.min_properties is not None and n < s.min_properties:
            self.errs.append(invalid(_fp(path), s.min_properties,
                                     f"{path} in body should have at least "
                                     f"{s.min_properties} properties"))
        if s.max_properties is not None and n > s.max_properties:
            self.errs.append(FieldError(_fp(path), TOO_MANY,
                                        f"must have at most {s.max_properties} items", n))
        props = s.properties
        add = s.additional
        value = self.value
        for k, x in v.items():
            p = props.get(k)
            if p is None:
                p = add
                if p is None:
                    continue
            if type(x) in p.leaf_types:
                continue  # a scalar of the right type under a schema with no checks
            value(x, p, f"{path}.{k}" if path else str(k), depth + 1)
        for r in s.required:
            if r not in v:
                self.errs.append(required(_child(path, r)))

    def _junctors(self, v: Any, s: Node, path: str, depth: int) -> None:
        q = json.dumps(path)
        for sub in s.all_of:
            self.value(v, sub, path, depth + 1)
        if s.any_of:
            best: Errs | None = None
            for sub in s.any_of:
                w = Walker(False)
                w.value(v, sub, path, depth + 1)
                if not w.errs:
                    best = None
                    break
                if best is None or len(w.errs) < len(best):
                    best = w.errs
            if best is not None:
                self.errs.append(invalid(ROOT, "", f"{q} must validate at least one schema "
                                                   "(anyOf)"))
                self.errs.extend(best)
        if s.one_of:
            ok = 0
            first: Errs | None = None
            for sub in s.one_of:
                w = Walker(False)
                w.value(v, sub, path, depth + 1)
                if not w.errs:
                    ok += 1
                elif first is None:
                    first = w.errs
            if ok == 0:
                self.errs.append(invalid(ROOT, "", f"{q} must validate one and only one "
                                                   "schema (oneOf). Found none valid"))
                self.errs.extend(first or [])
            elif ok > 1:
                self.errs.append(invalid(ROOT, "", f"{q} must validate one and only one "
                                                   f"schema (oneOf). Found {ok} valid "
                                                   "alternatives"))
        if s.not_ is not None:
            w = Walker(False)
            w.value(v, s.not_, path, depth + 1)
            if not w.errs:
                self.errs.append(invalid(ROOT, "", f"{q} must not validate the schema (not)"))

    # ---- embedded resources, list types, CEL (field.Path paths) -----------------

    def extra(self, v: Any, old: Any, s: Node, path: str, root: bool, depth: int = 0) -> None:
        """Embedded-resource metadata and list-type uniqueness (``with_cel`` False), or
        the CEL rules (``with_cel`` True), under ``s``."""
        if depth > MAX_DEPTH:
            return
        if self.with_cel:
            if s.rules and v is not None:
                self._cel(v, old, s, path, root)
        elif isinstance(v, dict) and s.embedded and not root:
            self._embedded(v, path)
        if isinstance(v, dict):
            for k, x in v.items():
                p = s.properties.get(k)
                if p is not None:
                    if p.has_checks:
                        o = old.get(k) if isinstance(old, dict) else None
                        self.extra(x, o, p, _child(path, str(k)), False, depth + 1)
                elif s.additional is not None and s.additional.has_checks:
                    o = old.get(k) if isinstance(old, dict) else None
                    self.extra(x, o, s.additional, f"{path}[{k}]", False, depth + 1)
        elif isinstance(v, list):
            if self.with_cel:
                pass
            elif s.list_type == "set":
                self._list_set(v, path)
            elif s.list_type == "map":
                self._list_map(v, s, path)
            if s.items is not None and s.items.has_checks:
                olds = _correlate(v, old, s)
                for i, x in enumerate(v):
                    self.extra(x, olds[i], s.items, f"{path}[{i}]", False, depth + 1)

    def _embedded(self, v: Mapping[str, Any], path: str) -> None:
        errs = self.errs
        if "apiVersion" not in v:
            errs.append(required(_child(path, "apiVersion"), "must not be empty"))
        if "kind" not in v:
            errs.append(required(_child(path, "kind"), "must not be empty"))
        av = v.get("apiVersion")
        if "apiVersion" in v:
            p = _child(path, "apiVersion")
            if not isinstance(av, str):
                errs.append(invalid(p, av, "must be a string"))
            elif not av:
                errs.append(invalid(p, av, "must not be empty"))
            elif av.count("/") > 1:
                errs.append(invalid(p, av, f"unexpected GroupVersion string: {av}"))
        if "kind" in v:
            kind = v.get("kind")
            p = _child(path, "kind")
            if not isinstance(kind, str):
                errs.append(invalid(p, kind, "must be a string"))
            elif not kind:
                errs.append(invalid(p, kind, "must not be empty"))
            else:
                msgs = is_dns1035_label(kind.lower())
                if msgs:
                    errs.append(invalid(p, kind, "may have mixed case, but should otherwise "
                                                 "match: " + ",".join(msgs)))
        md = v.get("metadata")
        if isinstance(md, Mapping):
            mp = _child(path, "metadata")
            name = md.get("name")
            if isinstance(name, str) and name:
                for m in is_dns1123_subdomain(name):
                    errs.append(invalid(_child(mp, "name"), name, m))
            if md.get("labels") is not None:
                errs.extend(validate_labels(md.get("labels"), _child(mp, "labels")))
            if md.get("annotations") is not None:
                errs.extend(validate_annotations(md.get("annotations"),
                                                 _child(mp, "annotations")))

    def _list_set(self, v: list[Any], path: str) -> None:
        seen: dict[Any, int] = {}
        reported: set[Any] = set()
        for i, x in enumerate(v):
            if isinstance(x, Mapping | list):
                self.errs.append(invalid(path, x, "lists with x-kubernetes-list-type=set "
                                                  "must only contain scalar items"))
                return
            h = _hashable(x)
            if h in seen and h not in reported:
                reported.add(h)
                self.errs.append(FieldError(f"{path}[{i}]", DUPLICATE, "", x))
            seen.setdefault(h, i)

    def _list_map(self, v: list[Any], s: Node, path: str) -> None:
        bad = False
        for i, x in enumerate(v):
            if x is not None and not isinstance(x, dict):
                self.errs.append(invalid(f"{path}[{i}]", x,
                                         "must be an object for an array of list-type map"))
                bad = True
        if bad:
            return
        keys = s.list_map_keys
        seen: set[Any] = set()
        hashes: list[Any] = []
        for x in v:
            if x is None:
                h: Any = (_Missing,) * len(keys)
            elif len(keys) == 1:
                h = _hashable(x.get(keys[0], _Missing))
            else:
                h = tuple(_hashable(x.get(k, _Missing)) for k in keys)
            hashes.append(h)
            seen.add(h)
        if len(seen) == len(v):
            return
        # duplicates: report each duplicated key once, at its second occurrence
        first: set[Any] = set()
        reported: set[Any] = set()
        for i, h in enumerate(hashes):
            if h in first and h not in reported:
                reported.add(h)
                x = v[i]
                kv = {k: x[k] for k in keys if isinstance(x, dict) and k in x}
                self.errs.append(FieldError(f"{path}[{i}]", DUPLICATE, "", kv))
            first.add(h)

    def _cel(self, v: Any, old: Any, s: Node, path: str, root: bool) -> None:
        if self.out_of_budget:
            return
        if self.budget is None:
            self.budget = cel.Budget()
        self_val: Any = None
        old_val: Any = None
        unchanged: bool | None = None
        for rule in s.rules:
            if rule.program is None:
                continue
            if rule.uses_old and old is None and not rule.optional_old_self:
                continue
            if not rule.uses_old and old is not None:
                if unchanged is None:
                    unchanged = json_equal(v, old)
                if unchanged:
                    continue  # ratcheting: a rule without oldSelf on an unchanged value
            if self_val is None:
                self_val = cel.to_cel(v, s, root)
            ctx: dict[str, Any] = {"self": self_val}
            if rule.uses_old:
                if old_val is None and old is not None:
                    old_val = cel.to_cel(old, s, root)
                ctx["oldSelf"] = cel.Optional(old_val) if rule.optional_old_self else old_val
            try:
                ok, detail = cel.evaluate(rule, ctx, self.budget)
            except cel.OutOfBudget:
                self.out_of_budget = True
                self.cel_errs.append(invalid(_fp(path), s.type or "object",
                                             "validation failed due to running out of cost "
                                             "budget, no further validation rules will be "
                                             "run"))
                return
            if ok:
                continue
            fp = path
            for seg in rule.field_path:
                fp = _child(fp, seg)
            fp = _fp(fp)
            value = s.type or ("object" if isinstance(v, Mapping) else json_type(v))
            if rule.reason == "FieldValueForbidden":
                self.cel_errs.append(forbidden(fp, detail))
            elif rule.reason == "FieldValueRequired":
                self.cel_errs.append(required(fp, detail))
            elif rule.reason == "FieldValueDuplicate":
                self.cel_errs.append(FieldError(fp, DUPLICATE, "", value))
            else:
                self.cel_errs.append(FieldError(fp, INVALID, detail, value))


_BLOCKING = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong",
                       "FieldValueTooMany", "FieldValueTypeInvalid"})


def validate(v: Any, old: Any, s: Node, *, root: bool = True) -> Errs:
    """All passes; CEL rules run only when no blocking error (wrong type, required, enum,
    too long, too many) was found, as Kubernetes' hasBlockingErr decides. On updates
    (``old`` given) errors are ratcheted as Kubernetes' CRDValidationRatcheting does: an
    error about a value that the update left unchanged is dropped, and so is a CEL rule
    that does not name oldSelf on an unchanged value."""
    w = Walker(False)
    w.value(v, s, "")
    w.extra(v, None, s, "", root)
    errs = w.errs
    if errs and old is not None:
        errs = [e for e in errs if not _unchanged_at(e, v, old, s)]
    if any(e.type in _BLOCKING for e in errs):
        if s.has_rules:
            errs.append(invalid(ROOT, None, "some validation rules were not checked because "
                                            "the object was invalid; correct the existing "
                                            "errors to complete validation"))
        return errs
    if s.has_rules:
        c = Walker(True)
        c.extra(v, old, s, "", root)
        errs += c.cel_errs
    return errs


_GONE = object()


def _segments(path: str, v: Any) -> list[Any] | None:
    """An error path (``spec.labels.app.kubernetes.io/name``, ``spec.l[0].x``) split along
    the keys that ``v`` actually has (map keys may hold dots), or None."""
    out: list[Any] = []
    rest = path
    cur = v
    while rest:
        if rest.startswith("["):
            j = rest.find("]")
            if j < 0 or not isinstance(cur, list):
                return None
            try:
                i = int(rest[1:j])
            except ValueError:
                return None
            if not 0 <= i < len(cur):
                return None
            out.append(i)
            cur = cur[i]
            rest = rest[j + 1:].removeprefix(".")
            continue
        if not isinstance(cur, dict):
            return None
        best = None
        for k in cur:
            if isinstance(k, str) and rest.startswith(k) and (
                    len(rest) == len(k) or rest[len(k)] in ".[") and (
                    best is None or len(k) > len(best)):
                best = k
        if best is None:
            # the last segment may name a missing field (Required)
            if "." not in rest and "[" not in rest:
                out.append(rest)
                return out
            return None
        out.append(best)
        cur = cur[best]
        rest = rest[len(best):].removeprefix(".")
    return out


def _unchanged_at(e: FieldError, v: Any, old: Any, s: Node) -> bool:
    """Whether the value the error is about is the same in ``old`` (Required: its parent
    object), following list-type map items by key and other lists only whole."""
    if e.field in ("", ROOT):
        return False
    segs = _segments(e.field, v)
    if segs is None:
        return False
    if e.type == "FieldValueRequired":
        segs = segs[:-1]
    new_v: Any = v
    old_v: Any = old
    node: Node | None = s
    for seg in segs:
        if isinstance(seg, int):
            if not isinstance(new_v, list) or not isinstance(old_v, list) or node is None:
                return False
            if node.list_type == "map" and node.list_map_keys:
                old_v = _correlate(new_v, old_v, node)[seg]
            elif json_equal(new_v, old_v):
                return True  # an atomic or set list unchanged as a whole
            else:
                return False
            new_v = new_v[seg]
            node = node.items
            if old_v is None:
                return False
        else:
            if not isinstance(new_v, dict) or not isinstance(old_v, dict):
                return False
            if seg not in old_v or seg not in new_v:
                return False
            new_v, old_v = new_v[seg], old_v[seg]
            node = node.child(seg) if node is not None else None
    return json_equal(new_v, old_v)


def _correlate(v: list[Any], old: Any, s: Node) -> list[Any]:
    """Old items matched to new ones: by key for list-type map, none otherwise."""
    if not isinstance(old, list):
        return [None] * len(v)
    if s.list_type != "map" or not s.list_map_keys:
        # items of other lists are not correlated, unless the list is unchanged as a whole
        return list(old) if json_equal(v, old) else [None] * len(v)
    keys = s.list_map_keys
    index: dict[Any, Any] = {}
    for o in old:
        if isinstance(o, Mapping):
            index.setdefault(_hashable({k: o.get(k) for k in keys}), o)
    out: list[Any] = []
    for x in v:
        if isinstance(x, Mapping):
            out.append(index.get(_hashable({k: x.get(k) for k in keys})))
        else:
            out.append(None)
    return out
