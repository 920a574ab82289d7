"""metadata.managedFields: who owns which fields, as kube-apiserver's field manager
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager and
k8s.io/apimachinery/pkg/util/managedfields/internal) on structured-merge-diff's Updater.

An entry per manager and operation (Apply entries per manager and subresource, Update
entries also per apiVersion), with the time of its last change and its fields as
fieldsV1. ``update`` records a create, update or patch: the fields it adds or changes
become the manager's, and leave every other manager. ``apply`` merges an applied
configuration: fields another manager owns and the configuration changes are conflicts
(a 409 unless forced), fields the applier applied before and no longer applies are
removed unless someone else owns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from api.timeutil import now
from apiserver.fieldmanager import fieldpath, typed
from apiserver.fieldmanager.fieldpath import FieldSet, Path
from apiserver.fieldmanager.schema import Type

APPLY, UPDATE = "Apply", "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
FIELD_MANAGER_MAX_LENGTH = 128
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# stripmeta.go: fields nobody owns.
_STRIPPED: frozenset[Path] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name"),
    ("f:metadata", "f:namespace"), ("f:metadata", "f:creationTimestamp"),
    ("f:metadata", "f:selfLink"), ("f:metadata", "f:uid"), ("f:metadata", "f:clusterName"),
    ("f:metadata", "f:generation"), ("f:metadata", "f:managedFields"),
    ("f:metadata", "f:resourceVersion"),
})
_STATUS: Path = ("f:status",)
_SPEC: Path = ("f:spec",)

JSONDict = dict[str, Any]
Ident = tuple[str, str, str, str]  # manager, operation, apiVersion (Update only), subresource


class Conflicts(Exception):
    """Fields the applied configuration changes that other managers own."""

    def __init__(self, conflicts: list[tuple[Entry, Path]]) -> None:
        super().__init__("conflicts")
        self.conflicts = conflicts

    def message(self) -> str:
        if len(self.conflicts) == 1:
            e, p = self.conflicts[0]
            return (f"Apply failed with 1 conflict: conflict with {e.describe()}: "
                    f"{fieldpath.path_string(p)}")
        by: dict[str, list[Path]] = {}
        for e, p in self.conflicts:
            by.setdefault(e.describe(), []).append(p)
        lines: list[str] = []
        for m in sorted(by):
            lines.append(f"conflicts with {m}:")
            lines += [f"- {fieldpath.path_string(p)}" for p in by[m]]
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[JSONDict]:
        return [{"type": "FieldManagerConflict", "message": f"conflict with {e.describe()}",
                 "field": fieldpath.path_string(p)} for e, p in self.conflicts]


class InvalidManagedFields(ValueError):
    pass


@dataclass(slots=True)
class Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str
    fields: FieldSet = field(default_factory=set)

    @property
    def ident(self) -> Ident:
        return (self.manager, self.operation,
                "" if self.operation == APPLY else self.api_version, self.subresource)

    def describe(self) -> str:
        """printManager: ``"kubectl"``, ``"mgr" using apps/v1``, with its subresource."""
        s = orjson.dumps(self.manager).decode()
        if self.subresource:
            s += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE:
            s += f" using {self.api_version}"
        return s

    def encode(self) -> JSONDict:
        out: JSONDict = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            out["apiVersion"] = self.api_version
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = _encoded(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


Managed = dict[Ident, Entry]

_decoded: dict[bytes, frozenset[Path]] = {}


def _fields_of(doc: Any) -> FieldSet:
    key = orjson.dumps(doc)
    got = _decoded.get(key)
    if got is None:
        got = frozenset(fieldpath.from_fields_v1(doc))
        if len(_decoded) > 4096:
            _decoded.clear()
        _decoded[key] = got
    return set(got)


_encodings: dict[frozenset[Path], dict[str, Any]] = {}


def _encoded(fields: FieldSet) -> Any:
    """fieldsV1 of a set, from a cache (most entries are the same from write to write):
    the document is shared between objects, which nothing changes in place."""
    key = frozenset(fields)
    got = _encodings.get(key)
    if got is None:
        got = fieldpath.to_fields_v1(fields)
        if len(_encodings) > 4096:
            _encodings.clear()
        _encodings[key] = got
    return got


def decode(entries: Any) -> Managed:
    """DecodeManagedFields; InvalidManagedFields when an entry is malformed."""
    out: Managed = {}
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise InvalidManagedFields("managedFields must be a list")
    for e in entries:
        if not isinstance(e, dict):
            raise InvalidManagedFields("a managedFields entry must be an object")
        op = e.get("operation")
        if op not in (APPLY, UPDATE):
            raise InvalidManagedFields(f"unknown operation {op!r}")
        ft = e.get("fieldsType")
        if ft != "FieldsV1":
            raise InvalidManagedFields(f"invalid fieldsType {ft!r}")
        try:
            fields = _fields_of(e.get("fieldsV1") or {})
        except fieldpath.FieldsError as err:
            raise InvalidManagedFields(str(err)) from None
        vals = [e.get(k) for k in ("manager", "apiVersion", "time", "subresource")]
        if not all(v is None or isinstance(v, str) for v in vals):
            raise InvalidManagedFields("managedFields entries hold strings")
        entry = Entry(vals[0] or "", op, vals[1] or "", vals[2], vals[3] or "", fields)
        if entry.ident in out:
            raise InvalidManagedFields(f"duplicate entry for manager {entry.manager!r}")
        out[entry.ident] = entry
    return out


def encode(managed: Managed) -> list[JSONDict]:
    """The entries in kube-apiserver's order: Apply before Update, then by time,
    manager, apiVersion, subresource."""
    entries = [e for e in managed.values() if e.fields]
    entries.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version,
                                e.subresource))
    return [e.encode() for e in entries]


def is_reset(entries: Any) -> bool:
    """isResetManagedFields: ``[]`` or ``[{}]`` sent by a client clears managedFields."""
    return bool(entries == [] or entries == [{}])


def manager_from_user_agent(user_agent: str) -> str:
    """prefixFromUserAgent: the User-Agent up to its first '/', printable, <= 128 bytes."""
    out = ""
    size = 0
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():
            continue
        n = len(ch.encode())
        if size + n > FIELD_MANAGER_MAX_LENGTH:
            break
        out += ch
        size += n
    return out


@dataclass(slots=True)
class Context:
    """What the field manager knows of one kind."""

    root: Type
    api_version: str
    status_subresource: bool
    zero: JSONDict

    def keep(self, p: Path, subresource: str) -> bool:
        """The reset-fields filter: a main-resource write of a kind with a status
        subresource owns nothing under status; a status write nothing under spec."""
        if subresource == "status":
            return p[:1] != _SPEC
        if self.status_subresource:
            return p[:1] != _STATUS
        return True

    def owned(self, paths: FieldSet, subresource: str) -> FieldSet:
        return {p for p in paths if p not in _STRIPPED and self.keep(p, subresource)}


def _body(obj: JSONDict) -> JSONDict:
    """The object as the comparison sees it: without metadata.managedFields."""
    md = obj.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        obj = {**obj, "metadata": {k: v for k, v in md.items() if k != "managedFields"}}
    return obj


def _cap(managed: Managed) -> None:
    """capManagersManager: at most 10 Update entries; the oldest merge into
    "ancient-changes" (one per apiVersion)."""
    updaters = [e for e in managed.values() if e.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda e: e.time or "")
    count = len(updaters)
    first: dict[str, Entry] = {}
    for e in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        v = e.api_version
        if v not in first:
            first[v] = e
            continue
        bucket_id: Ident = (ANCIENT_CHANGES, UPDATE, v, "")
        got = managed.get(bucket_id)
        if got is None:
            f = first[v]
            managed.pop(f.ident, None)
            got = Entry(ANCIENT_CHANGES, UPDATE, v, f.time, "", set(f.fields))
            managed[bucket_id] = got
            first[v] = got
        bucket = got
        if e.ident == bucket_id:
            continue
        bucket.fields |= e.fields
        bucket.time = e.time
        managed.pop(e.ident, None)
        count -= 1


def live_or_new(live: JSONDict | None, new: JSONDict) -> Managed:
    """decodeLiveOrNew: what the client sent, unless it sent nothing (or something
    invalid): then the live object's; ``[]`` resets."""
    sent = (new.get("metadata") or {}).get("managedFields")
    if is_reset(sent):
        return {}
    if sent:
        try:
            got = decode(sent)
            if got:
                return got
        except InvalidManagedFields:
            pass
    if live is None:
        return {}
    try:
        return decode((live.get("metadata") or {}).get("managedFields"))
    except InvalidManagedFields:
        return {}


def _record_update(ctx: Context, managed: Managed, live: JSONDict, new: JSONDict,
                   manager: str, subresource: str, time: str) -> None:
    added, modified, removed = typed.diff(live, new, ctx.root)
    changed = added | modified
    for e in managed.values():
        if changed:
            e.fields -= changed
        if removed:
            e.fields -= removed
    mine = ctx.owned(changed, subresource)
    if mine:
        ident: Ident = (manager, UPDATE, ctx.api_version, subresource)
        entry = managed.get(ident)
        if entry is None:
            entry = managed[ident] = Entry(manager, UPDATE, ctx.api_version, time, subresource)
        entry.fields |= mine
        entry.time = time
    for k in [k for k, e in managed.items() if not e.fields]:
        del managed[k]


def update(ctx: Context, live: JSONDict | None, new: JSONDict, manager: str,
           subresource: str = "") -> None:
    """Record a create (``live`` None) or an update by ``manager`` in new's managedFields."""
    managed = live_or_new(live, new)
    before = _body(live) if live is not None else ctx.zero
    try:
        _record_update(ctx, managed, before, _body(new), manager, subresource, now())
    except (typed.TypedError, RecursionError):
        return  # a shape validation refuses next (UpdateNoErrors: never fails the write)
    _cap(managed)
    _set(new, managed)


def _set(obj: JSONDict, managed: Managed) -> None:
    md = obj.setdefault("metadata", {})
    entries = encode(managed)
    if entries:
        md["managedFields"] = entries
    else:
        md.pop("managedFields", None)


def apply(ctx: Context, live: JSONDict | None, config: JSONDict, manager: str,
          force: bool, subresource: str = "") -> JSONDict:
    """The object after ``manager`` applies ``config`` to ``live`` (None: apply on
    create), with its managedFields. Raises Conflicts, typed.TypedError."""
    t = now()
    managed: Managed = {}
    if live is not None:
        try:
            managed = decode((live.get("metadata") or {}).get("managedFields"))
        except InvalidManagedFields:
            managed = {}
    base = _body(live) if live is not None else ctx.zero
    if live is not None and not managed:
        # skipNonAppliedManager: fields set before anyone applied belong to someone.
        _record_update(ctx, managed, ctx.zero, base, BEFORE_FIRST_APPLY, subresource, t)
    applied = ctx.owned(typed.to_set(config, ctx.root), subresource)
    merged = typed.merge(base, config, ctx.root)
    ident: Ident = (manager, APPLY, "", subresource)
    prev = managed.get(ident)
    last = prev.fields if prev is not None else set()
    mine = Entry(manager, APPLY, ctx.api_version, prev.time if prev else None, subresource,
                 applied)
    managed[ident] = mine
    if last - applied:
        everyone: FieldSet = set()
        for e in managed.values():
            everyone |= e.fields
        gone = fieldpath.with_prefixes(last) - fieldpath.with_prefixes(everyone)
        gone = {p for p in gone if p not in _STRIPPED}
        merged = typed.remove(merged, gone, ctx.root)
    added, modified, removed = typed.diff(base, merged, ctx.root)
    changed = {p for p in added | modified if ctx.keep(p, subresource)}
    removed = {p for p in removed if ctx.keep(p, subresource)}
    conflicts: list[tuple[Entry, Path]] = []
    for e in managed.values():
        if e is not mine:
            conflicts += [(e, p) for p in sorted(e.fields & changed)]
    if conflicts and not force and not _allowed_by_last_applied(ctx, live, manager,
                                                                conflicts):
        conflicts.sort(key=lambda c: (c[0].describe(), c[1]))
        raise Conflicts(conflicts)
    for e in managed.values():
        if e is not mine:
            e.fields -= changed
            e.fields -= removed
    for k in [k for k, e in managed.items() if not e.fields]:
        del managed[k]
    if merged != base or mine.time is None:
        mine.time = t
    _cap(managed)
    if live is not None and manager == "kubectl" and \
            LAST_APPLIED in ((live.get("metadata") or {}).get("annotations") or {}):
        # lastAppliedUpdater: kubectl's client-side annotation follows its applies.
        md = dict(merged.get("metadata") or {})
        md["annotations"] = {**(md.get("annotations") or {}),
                             LAST_APPLIED: orjson.dumps(config).decode() + "\n"}
        merged = {**merged, "metadata": md}
    # A copy: the merge shares subtrees with ``live``, ``config`` and the zero object,
    # which the caller's defaulting must not change.
    out: JSONDict = orjson.loads(orjson.dumps(merged))
    _set(out, managed)
    return out


def _allowed_by_last_applied(ctx: Context, live: JSONDict | None, manager: str,
                             conflicts: list[tuple[Entry, Path]]) -> bool:
    """lastAppliedManager: kubectl's first server-side apply over a client-side applied
    object may take the fields its last-applied-configuration names."""
    if manager != "kubectl" or live is None:
        return False
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(raw, str):
        return False
    try:
        last = orjson.loads(raw)
        allowed = typed.to_set(last, ctx.root) if isinstance(last, dict) else set()
    except (orjson.JSONDecodeError, typed.TypedError):
        return False
    return all(p in allowed for _, p in conflicts)
