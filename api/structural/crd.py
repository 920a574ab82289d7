"""The validation of an openAPIV3Schema itself (at CRD create/update).

Kubernetes: apiextensions-apiserver/pkg/apis/apiextensions/validation
(validateCustomResourceDefinitionOpenAPISchema: unsupported keywords, uniqueItems,
additionalProperties vs properties, the x-kubernetes-* rules, x-kubernetes-validations
entries and their compilation), pkg/apiserver/schema/validation.go (ValidateStructural:
"must not be empty for specified object fields", metadata restrictions, the value
validations' structural restrictions) and pkg/apiserver/schema/defaulting/validation.go
(defaults pruned and valid against their schema, never inside metadata).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from api.structural import cel
from api.structural.compiled import Structural
from api.structural.prune import Pruner
from api.structural.schema import TYPES, UNSET, Node, compile_pattern
from api.structural.validate import validate
from api.validation.field import (
    FieldError,
    forbidden,
    invalid,
    not_supported,
    required,
)

Errs = list[FieldError]

_UNSUPPORTED = (("id", "id"), ("$ref", "$ref"),
                ("additionalItems", "additionalItems"), ("patternProperties",
                                                         "patternProperties"),
                ("definitions", "definitions"), ("dependencies", "dependencies"))
_REASONS = sorted(cel.REASONS)
_META_FIELDS = ("apiVersion", "kind", "metadata")
_ROOT, _ITEM, _FIELD = 0, 1, 2
_JUNCTORS = ("allOf", "anyOf", "oneOf")
# What value validation under a junctor may not say (Structural's ForbiddenGenerics and
# ForbiddenExtensions), with Kubernetes' wording.
_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("externalDocs", "must be undefined to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)


def _must(field: str, value: Any, detail: str) -> FieldError:
    """An extension's requirement on the schema's type: Required when it is empty, Invalid
    with its value otherwise."""
    return required(field, detail) if not value else invalid(field, value, detail)


def _c(path: str, *names: str) -> str:
    for n in names:
        path = f"{path}.{n}" if path else n
    return path


def _truthy(raw: Mapping[str, Any], key: str) -> bool:
    v = raw.get(key)
    if v is None or v is False:
        return False
    return not (isinstance(v, str | list | dict) and not v)


def _int_or_string_any_of(junctor: Any) -> bool:
    return (isinstance(junctor, list) and len(junctor) == 2
            and junctor[0] == {"type": "integer"} and junctor[1] == {"type": "string"})


class SchemaChecker:
    def __init__(self, nodes: dict[int, Node] | None = None) -> None:
        self.errs: Errs = []
        # the compiled nodes of the schema's structural part, by id of their raw dict
        self.nodes = nodes or {}

    # ---- apiextensions' per-node rules ------------------------------------------

    def _basic(self, raw: Mapping[str, Any], path: str, *, in_meta: bool,
               forbid_default: str) -> None:
        """specStandardValidatorV3.validate, uniqueItems and additionalProperties vs
        properties: what every schema, junctors' included, must respect."""
        errs = self.errs
        t = raw.get("type")
        if t is not None and (not isinstance(t, str) or t not in TYPES):
            errs.append(not_supported(_c(path, "type"), t, list(TYPES)))
        if forbid_default and "default" in raw:
            errs.append(forbidden(_c(path, "default"), f"must not be set {forbid_default}"))
        for key, name in _UNSUPPORTED:
            if key in raw:
                errs.append(forbidden(_c(path, key), f"{name} is not supported"))
        if t == "null":
            errs.append(forbidden(_c(path, "type"), "type cannot be set to null, use nullable "
                                                    "as an alternative"))
        if isinstance(raw.get("items"), list):
            errs.append(forbidden(_c(path, "items"), "items must be a schema object and not "
                                                     "an array"))
        if in_meta and raw.get("x-kubernetes-embedded-resource") is True:
            errs.append(forbidden(_c(path, "x-kubernetes-embedded-resource"),
                                  "must not be used inside of resource meta"))
        if raw.get("uniqueItems") is True:
            errs.append(forbidden(_c(path, "uniqueItems"), "uniqueItems cannot be set to true "
                                  "since the runtime complexity becomes quadratic"))
        ap = raw.get("additionalProperties")
        props = raw.get("properties")
        if ap is not None and isinstance(props, Mapping) and props and ap is not True:
            errs.append(forbidden(_c(path, "additionalProperties"),
                                  "additionalProperties and properties are mutual exclusive"))

    def node(self, raw: Any, path: str, lvl: int, *, root: bool = False,
             in_meta: bool = False, forbid_default: str = "", uncorrelatable: str = "",
             depth: int = 0) -> None:
        errs = self.errs
        if depth > 100:
            errs.append(forbidden(path, "must not be nested more than 100 levels deep"))
            return
        if not isinstance(raw, Mapping):
            errs.append(invalid(path, raw, "must be an object"))
            return
        start = len(errs)
        self._basic(raw, path, in_meta=in_meta, forbid_default=forbid_default)
        t = raw.get("type")
        t = t if isinstance(t, str) else ""
        props = raw.get("properties")
        if props is not None and not isinstance(props, Mapping):
            errs.append(invalid(_c(path, "properties"), props, "must be an object"))
            props = None
        ap = raw.get("additionalProperties")
        if ap is not None:
            if lvl == _ROOT:
                errs.append(forbidden(_c(path, "additionalProperties"),
                                      "must not be used at the root"))
            if raw.get("x-kubernetes-embedded-resource") is True:
                errs.append(forbidden(_c(path, "additionalProperties"),
                                      "must not be used if x-kubernetes-embedded-resource is "
                                      "set"))
            if isinstance(ap, Mapping):
                sub_forbid = ("inside additionalProperties applying to object metadata"
                              if in_meta else forbid_default)
                self.node(ap, _c(path, "additionalProperties"), _FIELD, in_meta=in_meta,
                          forbid_default=sub_forbid, uncorrelatable=uncorrelatable,
                          depth=depth + 1)
            elif not isinstance(ap, bool):
                errs.append(invalid(_c(path, "additionalProperties"), ap,
                                    "must be a boolean or an object"))
        embedded = raw.get("x-kubernetes-embedded-resource") is True
        check_meta = root or embedded
        prop_unc = uncorrelatable
        if not prop_unc and raw.get("x-kubernetes-map-type") == "atomic":
            prop_unc = path
        for k, v in (props or {}).items():
            kp = f"{_c(path, 'properties')}[{k}]"
            sub_meta, sub_forbid = in_meta, forbid_default
            if check_meta and k in _META_FIELDS:
                sub_meta = True
                if root:
                    sub_forbid = f"in top-level {k}"
                if k == "metadata":
                    self._metadata(v, kp, root)
                elif isinstance(v, Mapping) and v.get("type") != "string":
                    errs.append(invalid(_c(kp, "type"), v.get("type") or "", "must be string"))
            self.node(v, kp, _FIELD, in_meta=sub_meta, forbid_default=sub_forbid,
                      uncorrelatable=prop_unc, depth=depth + 1)
        items = raw.get("items")
        if isinstance(items, Mapping):
            lt = raw.get("x-kubernetes-list-type")
            sub_unc = uncorrelatable
            if not sub_unc and lt != "map":
                sub_unc = path
            self.node(items, _c(path, "items"), _ITEM, in_meta=in_meta,
                      forbid_default=forbid_default, uncorrelatable=sub_unc, depth=depth + 1)
        elif items is not None and not isinstance(items, list):
            errs.append(invalid(_c(path, "items"), items, "must be an object"))
        if t == "array" and items is None:
            errs.append(required(_c(path, "items"), "must be specified"))
        # value validation junctors
        skip_any_of = _int_or_string_any_of(raw.get("anyOf"))
        all_of = raw.get("allOf")
        skip_first = (isinstance(all_of, list) and bool(all_of)
                      and isinstance(all_of[0], Mapping)
                      and _int_or_string_any_of(all_of[0].get("anyOf")))
        for j in _JUNCTORS:
            subs = raw.get(j)
            if subs is None:
                continue
            if not isinstance(subs, list):
                errs.append(invalid(_c(path, j), subs, "must be a list"))
                continue
            if j == "anyOf" and skip_any_of:
                continue
            for i, sub in enumerate(subs):
                self.nested(sub, f"{_c(path, j)}[{i}]",
                            skip_any_of=(j == "allOf" and i == 0 and skip_first),
                            in_meta=in_meta, forbid_default=forbid_default, depth=depth + 1)
        if "not" in raw:
            self.nested(raw["not"], _c(path, "not"), in_meta=in_meta,
                        forbid_default=forbid_default, depth=depth + 1)
        self._pattern(raw, path)
        self._extensions(raw, path, t, lvl, root)
        self._validations(raw, path, uncorrelatable, root, compile_=len(errs) == start)

    def _pattern(self, raw: Mapping[str, Any], path: str) -> None:
        pattern = raw.get("pattern")
        if isinstance(pattern, str) and pattern:
            _, err = compile_pattern(pattern)
            if err:
                self.errs.append(invalid(_c(path, "pattern"), pattern,
                                         f"must be a valid regular expression, but isn't: {err}"))

    def _metadata(self, v: Any, path: str, root: bool) -> None:
        """The structural restrictions on metadata (its schema is walked by node())."""
        if not isinstance(v, Mapping):
            return
        if v.get("type") != "object":
            self.errs.append(invalid(_c(path, "type"), v.get("type") or "", "must be object"))
        if root:
            rest = {k: x for k, x in v.items() if k not in ("type", "default")}
            props = rest.get("properties")
            if isinstance(props, Mapping) and set(props) <= {"name", "generateName"}:
                rest.pop("properties")
            if rest:
                self.errs.append(forbidden(path, "must not specify anything other than name "
                                                 "and generateName, but metadata is "
                                                 "implicitly specified"))

    def _extensions(self, raw: Mapping[str, Any], path: str, t: str, lvl: int,
                    root: bool) -> None:
        errs = self.errs
        ios = raw.get("x-kubernetes-int-or-string") is True
        pu = raw.get("x-kubernetes-preserve-unknown-fields")
        emb = raw.get("x-kubernetes-embedded-resource") is True
        if pu is not None and pu is not True:
            errs.append(invalid(_c(path, "x-kubernetes-preserve-unknown-fields"), pu,
                                "must be true or undefined"))
        if ios and pu is True:
            errs.append(invalid(_c(path, "x-kubernetes-preserve-unknown-fields"), True,
                                "must be false if x-kubernetes-int-or-string is true"))
        if ios and emb:
            errs.append(invalid(_c(path, "x-kubernetes-embedded-resource"), True,
                                "must be false if x-kubernetes-int-or-string is true"))
        if emb and t != "object":
            errs.append(_must(_c(path, "type"), t, "must be object if "
                              "x-kubernetes-embedded-resource is true"))
        elif not t and not ios and pu is not True:
            msg = {_ROOT: "must not be empty at the root",
                   _ITEM: "must not be empty for specified array items",
                   _FIELD: "must not be empty for specified object fields"}[lvl]
            errs.append(required(_c(path, "type"), msg))
        if lvl == _ROOT and t and t != "object":
            errs.append(invalid(_c(path, "type"), t, "must be object at the root"))
        if emb and pu is not True and not raw.get("properties"):
            errs.append(required(_c(path, "properties"), "must not be empty if "
                                 "x-kubernetes-embedded-resource is true without "
                                 "x-kubernetes-preserve-unknown-fields"))
        mt = raw.get("x-kubernetes-map-type")
        if mt is not None:
            if t != "object":
                errs.append(_must(_c(path, "type"), t, "must be object if "
                                  "x-kubernetes-map-type is specified"))
            if mt not in ("atomic", "granular"):
                errs.append(not_supported(_c(path, "x-kubernetes-map-type"), mt,
                                          ["atomic", "granular"]))
        lt = raw.get("x-kubernetes-list-type")
        keys = raw.get("x-kubernetes-list-map-keys")
        items = raw.get("items")
        item = items if isinstance(items, Mapping) else None
        if lt is not None:
            if t != "array":
                errs.append(_must(_c(path, "type"), t, "must be array if "
                                  "x-kubernetes-list-type is specified"))
            elif lt == "set" and item is not None:
                it = item.get("type")
                if it == "array" and item.get("x-kubernetes-list-type") not in (None, "atomic"):
                    errs.append(invalid(_c(path, "items", "x-kubernetes-list-type"),
                                        item.get("x-kubernetes-list-type"),
                                        "must be atomic as item of a list with "
                                        "x-kubernetes-list-type=set"))
                if it == "object" and item.get("x-kubernetes-map-type") != "atomic":
                    errs.append(invalid(_c(path, "items", "x-kubernetes-map-type"),
                                        item.get("x-kubernetes-map-type") or "",
                                        "must be atomic as item of a list with "
                                        "x-kubernetes-list-type=set"))
            if lt not in ("atomic", "set", "map"):
                errs.append(not_supported(_c(path, "x-kubernetes-list-type"), lt,
                                          ["atomic", "set", "map"]))
        if lt in ("set", "map") and item is not None and item.get("nullable") is True:
            errs.append(forbidden(_c(path, "items", "nullable"),
                                  f"cannot be nullable when x-kubernetes-list-type is {lt}"))
        if lt == "map":
            if not keys:
                errs.append(required(_c(path, "x-kubernetes-list-map-keys"),
                                     "must not be empty if x-kubernetes-list-type is map"))
            if items is None:
                errs.append(required(_c(path, "items"), "must have a schema if "
                                     "x-kubernetes-list-type is map"))
            elif item is None:
                errs.append(invalid(_c(path, "items"), items, "must only have a single "
                                    "schema if x-kubernetes-list-type is map"))
            elif item.get("type") != "object":
                errs.append(invalid(_c(path, "items", "type"), item.get("type") or "",
                                    "must be object if parent array's "
                                    "x-kubernetes-list-type is map"))
            else:
                iprops = item.get("properties")
                iprops = iprops if isinstance(iprops, Mapping) else {}
                ireq = item.get("required")
                ireq = ireq if isinstance(ireq, list) else []
                seen: set[str] = set()
                for k in keys if isinstance(keys, list) else []:
                    p = iprops.get(k) if isinstance(k, str) else None
                    kp = f"{_c(path, 'items', 'properties')}[{k}]"
                    if isinstance(p, Mapping):
                        if p.get("type") in ("array", "object"):
                            errs.append(invalid(_c(kp, "type"), item.get("type"),
                                                "must be a scalar type if parent array's "
                                                "x-kubernetes-list-type is map"))
                        if k not in ireq and "default" not in p:
                            errs.append(required(_c(kp, "default"),
                                                 "this property is in "
                                                 "x-kubernetes-list-map-keys, so it must have "
                                                 "a default or be a required property"))
                        if p.get("nullable") is True:
                            errs.append(forbidden(_c(kp, "nullable"),
                                                  "this property is in "
                                                  "x-kubernetes-list-map-keys, so it cannot "
                                                  "be nullable"))
                    else:
                        errs.append(invalid(_c(path, "x-kubernetes-list-map-keys"), keys,
                                            "entries must all be names of item properties"))
                    if k in seen:
                        errs.append(invalid(_c(path, "x-kubernetes-list-map-keys"), keys,
                                            "must not contain duplicate entries"))
                    if isinstance(k, str):
                        seen.add(k)
        if (lt != "map") and keys:
            if lt is None:
                errs.append(required(_c(path, "x-kubernetes-list-type"), "must be map if "
                                     "x-kubernetes-list-map-keys is non-empty"))
            else:
                errs.append(invalid(_c(path, "x-kubernetes-list-type"), lt, "must be map if "
                                    "x-kubernetes-list-map-keys is non-empty"))

    def _validations(self, raw: Mapping[str, Any], path: str, uncorrelatable: str,
                     root: bool, compile_: bool) -> None:
        rules = raw.get("x-kubernetes-validations")
        if rules is None:
            return
        node = self.nodes.get(id(raw)) or Node(raw)
        errs = self.errs
        base = _c(path, "x-kubernetes-validations")
        if not isinstance(rules, list):
            errs.append(invalid(base, rules, "must be a list"))
            return
        for i, r in enumerate(rules):
            rp = f"{base}[{i}]"
            if not isinstance(r, Mapping):
                errs.append(invalid(rp, r, "must be an object"))
                continue
            rule = r.get("rule")
            rule = rule if isinstance(rule, str) else ""
            msg = r.get("message")
            msg = msg if isinstance(msg, str) else ""
            mexpr = r.get("messageExpression")
            mexpr = mexpr if isinstance(mexpr, str) else ""
            if not rule.strip():
                errs.append(required(_c(rp, "rule"), "rule is not specified"))
            elif msg and not msg.strip():
                errs.append(invalid(_c(rp, "message"), msg,
                                    "message must be non-empty if specified"))
            elif "\n" in msg.strip() or "\r" in msg.strip():
                errs.append(invalid(_c(rp, "message"), msg,
                                    "message must not contain line breaks"))
            elif "\n" in rule.strip() and not msg.strip() and not mexpr.strip():
                errs.append(required(_c(rp, "message"), "message must be specified if rule "
                                                        "contains line breaks"))
            if mexpr and not mexpr.strip():
                errs.append(required(_c(rp, "messageExpression"),
                                     "messageExpression must be non-empty if specified"))
            reason = r.get("reason")
            if reason is not None and reason not in cel.REASONS:
                errs.append(not_supported(_c(rp, "reason"), reason, _REASONS))
            fp = r.get("fieldPath")
            if fp is not None:
                fps = fp if isinstance(fp, str) else ""
                if not fps.strip():
                    errs.append(invalid(_c(rp, "fieldPath"), fp,
                                        "fieldPath must be non-empty if specified"))
                elif "\n" in fps:
                    errs.append(invalid(_c(rp, "fieldPath"), fp,
                                        "fieldPath must not contain line breaks"))
                elif not _field_path_valid(raw, fps):
                    errs.append(invalid(_c(rp, "fieldPath"), fp,
                                        "fieldPath must be a valid path"))
            if not compile_:
                # Kubernetes compiles the rules only when the schema at and under this
                # node is valid (else the messages are not actionable)
                continue
            uses_old = False
            if rule.strip():
                try:
                    _, uses_old = cel.compile_expr(rule, node, root)
                except cel.CompileError as e:
                    errs.append(invalid(_c(rp, "rule"), dict(r), f"compilation failed: {e}"))
            if mexpr.strip():
                try:
                    cel.compile_expr(mexpr, node, root)
                except cel.CompileError as e:
                    errs.append(invalid(_c(rp, "messageExpression"), mexpr,
                                        f"messageExpression compilation failed: {e}"))
            if uses_old and uncorrelatable:
                errs.append(invalid(_c(rp, "rule"), rule,
                                    "oldSelf cannot be used on the uncorrelatable portion of "
                                    f"the schema within {uncorrelatable}"))
            if r.get("optionalOldSelf") is True and not uses_old and rule.strip():
                errs.append(invalid(_c(rp, "optionalOldSelf"), True,
                                    "may not be set to true if rule does not reference "
                                    "oldSelf"))

    # ---- value validation under junctors ----------------------------------------

    def nested(self, raw: Any, path: str, *, skip_any_of: bool = False, in_meta: bool = False,
               forbid_default: str = "", depth: int = 0) -> None:
        errs = self.errs
        if depth > 100:
            return
        if not isinstance(raw, Mapping):
            errs.append(invalid(path, raw, "must be an object"))
            return
        self._basic(raw, path, in_meta=in_meta, forbid_default=forbid_default)
        for key, msg in _NESTED_FORBIDDEN:
            if _truthy(raw, key):
                errs.append(forbidden(_c(path, key), msg))
        props = raw.get("properties")
        if isinstance(props, Mapping):
            if "metadata" in props:
                errs.append(forbidden(f"{_c(path, 'properties')}[metadata]",
                                      "must not be specified in a nested context"))
            for k, v in props.items():
                self.nested(v, f"{_c(path, 'properties')}[{k}]", in_meta=in_meta,
                            forbid_default=forbid_default, depth=depth + 1)
        if isinstance(raw.get("items"), Mapping):
            self.nested(raw["items"], _c(path, "items"), in_meta=in_meta,
                        forbid_default=forbid_default, depth=depth + 1)
        for j in _JUNCTORS:
            subs = raw.get(j)
            if not isinstance(subs, list) or (j == "anyOf" and skip_any_of):
                continue
            for i, sub in enumerate(subs):
                self.nested(sub, f"{_c(path, j)}[{i}]", in_meta=in_meta,
                            forbid_default=forbid_default, depth=depth + 1)
        if "not" in raw:
            self.nested(raw["not"], _c(path, "not"), in_meta=in_meta,
                        forbid_default=forbid_default, depth=depth + 1)
        self._pattern(raw, path)


def _completeness(v: Any, s: Any, spath: str, vpath: str, errs: Errs, depth: int = 0) -> None:
    """validateStructuralCompleteness: every field or array that value validation (under
    the root's junctors) specifies is specified structurally too."""
    if not isinstance(v, Mapping) or depth > 100:
        return
    if not isinstance(s, Mapping):
        errs.append(required(spath, f"because it is defined in {vpath}"))
        return
    for j in _JUNCTORS:
        subs = v.get(j)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                _completeness(sub, s, spath, f"{_c(vpath, j)}[{i}]", errs, depth + 1)
    if isinstance(v.get("not"), Mapping):
        _completeness(v["not"], s, spath, _c(vpath, "not"), errs, depth + 1)
    if vpath == spath:
        return  # the root's own properties are structural
    if isinstance(v.get("items"), Mapping):
        _completeness(v["items"], s.get("items"), _c(spath, "items"), _c(vpath, "items"),
                      errs, depth + 1)
    vprops = v.get("properties")
    sprops = s.get("properties")
    sprops = sprops if isinstance(sprops, Mapping) else {}
    if isinstance(vprops, Mapping):
        for k, sub in vprops.items():
            sp = f"{_c(spath, 'properties')}[{k}]"
            vp = f"{_c(vpath, 'properties')}[{k}]"
            if k not in sprops:
                errs.append(required(sp, f"because it is defined in {vp}"))
            else:
                _completeness(sub, sprops[k], sp, vp, errs, depth + 1)


def _field_path_valid(raw: Mapping[str, Any], fp: str) -> bool:
    segs = cel.parse_field_path(fp.strip())
    if segs is None:
        return False
    node: Any = raw
    for seg in segs:
        if not isinstance(node, Mapping):
            return False
        props = node.get("properties")
        if isinstance(props, Mapping) and seg in props:
            node = props[seg]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return False
    return True


def _check_defaults(root: Node, path_of: dict[int, str], errs: Errs) -> None:
    """Each default: pruned (no unknown fields) and valid against its own node."""
    for n in root.walk():
        if n.default is UNSET:
            continue
        dpath = _c(path_of.get(id(n), ""), "default")
        d = copy.deepcopy(n.default)
        pr = Pruner()
        if isinstance(d, dict) and (n.properties or n.additional is not None
                                    or not n.preserve_unknown):
            pr.value(d, n, "", 0)
        if pr.pruned:
            errs.append(invalid(dpath, n.default, "must not have unknown fields"))
            continue
        for e in validate(n.default, None, n, root=False):
            field = dpath if e.field in ("", "<nil>") else _c(dpath, e.field)
            errs.append(FieldError(field, e.type, e.message, e.value))


def _paths(raw: Any, path: str, node: Node, out: dict[int, str]) -> None:
    out[id(node)] = path
    props = raw.get("properties") if isinstance(raw, Mapping) else None
    for k, sub in node.properties.items():
        if isinstance(props, Mapping):
            _paths(props.get(k), f"{_c(path, 'properties')}[{k}]", sub, out)
    if node.items is not None:
        _paths(raw.get("items"), _c(path, "items"), node.items, out)
    if node.additional is not None:
        _paths(raw.get("additionalProperties"), _c(path, "additionalProperties"),
               node.additional, out)


def validate_crd_schema(schema: Any, path: str) -> Errs:
    """Everything Kubernetes checks on a version's openAPIV3Schema, as field errors under
    ``path`` (e.g. ``spec.versions[0].schema.openAPIV3Schema``)."""
    if not isinstance(schema, Mapping):
        if schema is None:
            return [required(path, "")]
        return [invalid(path, schema, "must be an object")]
    try:
        tree = Node(schema)
    except RecursionError:
        return [invalid(path, "", "schema nested too deeply")]
    c = SchemaChecker({id(n.raw): n for n in tree.walk()})
    try:
        c.node(schema, path, _ROOT, root=True)
        _completeness(schema, schema, path, path, c.errs)
    except RecursionError:
        return [invalid(path, "", "schema nested too deeply")]
    if c.errs:
        return _sorted(c.errs)
    s = Structural.compile(schema)
    paths: dict[int, str] = {}
    _paths(schema, path, s.root, paths)
    errs: Errs = []
    _check_defaults(s.root, paths, errs)
    return errs


def _sorted(errs: Errs) -> Errs:
    # Kubernetes sorts ValidateStructural's errors by their text
    return sorted(errs, key=str)
