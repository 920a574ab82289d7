"""The generic registry: every verb for every kind, on plain dicts, over Storage.

Driven by ``api.resources.ResourceInfo`` plus the kind's strategy
(``apiserver.strategies``), after the generic store of kube-apiserver
(registry/generic/registry/store.go): this module names no kind, the strategy
decides everything that differs between kinds. The HTTP routes only translate
requests to these calls. Every write is one etcd
transaction (create-if-absent, compare-and-swap, or guarded delete), so nothing is
ever half-written.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from api.resources import ResourceInfo
from api.timeutil import format_time, now
from apiserver import errors, fieldmanager
from apiserver.decoding import parse_revision
from apiserver.storage import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    Storage,
    StorageError,
    TooLargeError,
    UncertainError,
)
from apiserver.strategies import namespace as namespaces
from apiserver.strategies import strategy_for
from apiserver.strategies.base import generate_name, meta
from apiserver.watchcache import (
    CachedObject,
    CurrentRevision,
    WatchCache,
    decode_object,
    set_resource_version,
)

JSONDict = dict[str, Any]
Mutator = Callable[[JSONDict], JSONDict]

# Seconds a consistent read waits for the watch cache to catch up with etcd's current
# revision before it reads etcd instead (Kubernetes' blockTimeout of 3 s).
CONSISTENT_READ_WAIT = 3.0
Predicate = Callable[[JSONDict], bool]
Finish = Callable[[bool], Awaitable[None]]


class AdmissionRequest(Protocol):
    """What the registry reads of an admission request (admission_plugins.AdmissionRequest)."""

    operation: str
    info: ResourceInfo
    subresource: str | None
    obj: JSONDict | None
    old: JSONDict | None


class Admission(Protocol):
    """The admission chain as the registry runs it (``apiserver.admission_plugins.Chain``,
    which imports this module, not the other way round): ``wants`` / ``mutating_for`` say
    whether any plugin handles such a request, ``request`` builds one (with the requesting
    user), ``admit`` runs the mutating plugins, ``validate`` the validating ones."""

    def wants(self, operation: str, info: ResourceInfo, subresource: str | None) -> bool: ...

    def mutating_for(self, operation: str, info: ResourceInfo,
                     subresource: str | None) -> bool: ...

    def request(self, operation: str, info: ResourceInfo, namespace: str | None, name: str,
                subresource: str | None, obj: JSONDict | None, old: JSONDict | None,
                dry_run: bool, options: Any = None) -> AdmissionRequest: ...

    async def prepare(self, operation: str, info: ResourceInfo,
                      subresource: str | None) -> None: ...

    def admit(self, req: Any) -> None: ...

    async def validate(self, req: Any) -> None: ...


CREATE, UPDATE, DELETE, CONNECT = "CREATE", "UPDATE", "DELETE", "CONNECT"


class StoreHooks(Protocol):
    """What a kind's REST storage adds around the generic store's writes, as
    kube-apiserver's Store.BeginCreate / BeginUpdate / AfterDelete
    (registry/generic/registry/store.go): a begin hook runs after validation and before
    the write, may change the object (allocate what it holds) and returns a finish
    function that the registry calls with whether the write succeeded; after_delete
    runs once an object is gone from storage. Dry runs call the begin hooks with
    ``dry_run`` and write nothing."""

    async def begin_create(self, obj: JSONDict, dry_run: bool) -> Finish: ...

    async def begin_update(self, new: JSONDict, old: JSONDict, dry_run: bool) -> Finish: ...

    async def after_delete(self, obj: JSONDict) -> None: ...

def object_key(info: ResourceInfo, namespace: str | None, name: str) -> str:
    if info.namespaced:
        return f"/registry/{info.storage_resource}/{namespace}/{name}"
    return f"/registry/{info.storage_resource}/{name}"


def collection_prefix(info: ResourceInfo, namespace: str | None) -> str:
    if info.namespaced and namespace is not None:
        return f"/registry/{info.storage_resource}/{namespace}/"
    return f"/registry/{info.storage_resource}/"


def encode_for_storage(obj: JSONDict) -> bytes:
    md = obj.get("metadata")
    if isinstance(md, dict) and "resourceVersion" in md:
        md = dict(md)
        del md["resourceVersion"]
        obj = {**obj, "metadata": md}
    return orjson.dumps(obj)


def _strip_rv(obj: JSONDict) -> JSONDict:
    md = obj.get("metadata") or {}
    return {**obj, "metadata": {k: v for k, v in md.items() if k != "resourceVersion"}}


@dataclass(slots=True)
class Result:
    obj: JSONDict
    raw: bytes
    deleted: bool = False


def _check_body_kind(info: ResourceInfo, body: Any) -> None:
    """400 unless the body is a JSON object of the resource's kind (or names no kind)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    kind = body.get("kind")
    if kind is not None and kind != info.kind:
        raise errors.bad_request(
            f'{kind} in version "{body.get("apiVersion", "")}" cannot be handled as a '
            f"{info.kind}: the object kind does not match the resource")


def _result(obj: JSONDict, rv: int) -> Result:
    set_resource_version(obj, rv)  # and kube-apiserver's field order, as decode_object
    return Result(obj, orjson.dumps(obj))


def _parse_rv(value: Any, info: ResourceInfo, name: str) -> int:
    try:
        return parse_revision(str(value))
    except (TypeError, ValueError):
        raise errors.bad_request(f'invalid resourceVersion "{value}"') from None


def _write_error(e: StorageError) -> errors.ApiError:
    """A failed write as kube-apiserver answers it: an object over etcd's request limit
    is a 413; a write whose outcome is unknown (etcd stalled after it was sent) a 504
    Timeout, since it may still commit; etcd unreachable a 503."""
    if isinstance(e, TooLargeError):
        return errors.too_large(e.limit)
    if isinstance(e, UncertainError):
        return errors.timeout("Timeout: request did not complete within requested timeout - "
                              "context deadline exceeded")
    return errors.unavailable(str(e))


@dataclass(slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class _DeletePlan:
    precondition_rv: int | None
    precondition_uid: str | None
    policy: str | None  # Background, Foreground, Orphan, or None (the finalizers decide)
    grace: int | None  # the client's gracePeriodSeconds, never negative


def _delete_plan(info: ResourceInfo, name: str, opts: DeleteOptions) -> _DeletePlan:
    """DeleteOptions checked and resolved: the resourceVersion precondition parsed,
    orphanDependents folded into the propagation policy, a negative grace period as 0."""
    pre_rv = None
    if opts.precondition_rv not in (None, ""):
        pre_rv = _parse_rv(opts.precondition_rv, info, name)
    policy = opts.propagation_policy
    if policy is None and opts.orphan_dependents is not None:
        policy = "Orphan" if opts.orphan_dependents else "Background"
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise errors.invalid(info, name, [{
            "reason": "FieldValueNotSupported",
            "message": f'Unsupported value: "{policy}": supported values: "Foreground", '
                       f'"Background", "Orphan"',
            "field": "propagationPolicy"}])
    grace = opts.grace_period_seconds
    if grace is not None and grace < 0:
        grace = 0
    return _DeletePlan(pre_rv, opts.precondition_uid, policy, grace)


def _check_delete_preconditions(info: ResourceInfo, name: str, plan: _DeletePlan, rv: int,
                                uid: str | None) -> None:
    if plan.precondition_rv is not None and rv != plan.precondition_rv:
        raise errors.conflict(
            info, name, f"Precondition failed: ResourceVersion in precondition: "
                        f"{plan.precondition_rv}, ResourceVersion in object meta: {rv}")
    if plan.precondition_uid and uid != plan.precondition_uid:
        raise errors.conflict(
            info, name, f"Precondition failed: UID in precondition: "
                        f"{plan.precondition_uid}, UID in object meta: {uid}")


def _finalizers_for(policy: str | None, finalizers: list[str]) -> list[str]:
    """The garbage collector's finalizers a propagation policy asks for
    (deletionFinalizersForGarbageCollection): Foreground and Orphan each replace the
    other, Background drops both, no policy keeps what the object has."""
    out = list(finalizers)
    if policy == "Foreground" and "foregroundDeletion" not in out:
        out.append("foregroundDeletion")
        out = [f for f in out if f != "orphan"]
    elif policy == "Orphan" and "orphan" not in out:
        out.append("orphan")
        out = [f for f in out if f != "foregroundDeletion"]
    elif policy == "Background":
        out = [f for f in out if f not in ("orphan", "foregroundDeletion")]
    return out


def _mark_deleted(new_md: JSONDict, old_md: JSONDict, grace: int) -> int:
    """Set deletionTimestamp and deletionGracePeriodSeconds for a delete with ``grace``
    seconds; a repeated delete may shorten the grace period, never lengthen it
    (BeforeDelete). Returns the grace period in force."""
    if old_md.get("deletionTimestamp"):
        old_grace = int(old_md.get("deletionGracePeriodSeconds") or 0)
        if grace < old_grace:
            # A shorter grace period moves the deadline in (never out).
            new_md["deletionTimestamp"] = _deletion_time(grace)
        grace = min(grace, old_grace)
    else:
        new_md["deletionTimestamp"] = _deletion_time(grace)
    new_md["deletionGracePeriodSeconds"] = grace
    return grace


def _added_finalizers(new: JSONDict, old: JSONDict) -> list[str]:
    before = set(meta(old).get("finalizers") or [])
    return [f for f in meta(new).get("finalizers") or [] if f not in before]


def encode_continue(rv: int, start_key: str) -> str:
    token = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start_key})
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        d = orjson.loads(raw)
        rv, start = parse_revision(str(d["rv"])), str(d["start"])
        if d.get("v") != "meta.k8s.io/v1" or rv <= 0:
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                 "resourceVersion (version meta.k8s.io/v1)") from None
    return rv, prefix + start


class Registry:
    def __init__(self, storage: Storage, caches: dict[str, WatchCache],
                 event_ttl: int = 3600, hooks: dict[str, StoreHooks] | None = None) -> None:
        self.storage = storage
        self.caches = caches
        # Per resource (plural): the REST storage's hooks around writes (Services
        # allocate ClusterIPs and NodePorts).
        self.hooks: dict[str, StoreHooks] = dict(hooks or {})
        # --event-ttl (one hour as in Kubernetes), for the strategies that expire writes.
        self.event_ttl = event_ttl
        # The newest revision this server wrote per resource type: fresh_cache waits
        # for the cache to reach it (read-your-own-writes for this server's admission
        # and bootstrap lookups, as an informer that saw its own writes); reads that
        # must see every API server's writes use consistent_cache.
        self.last_write: dict[str, int] = defaultdict(int)
        # etcd's current revision by a quorum read, concurrent requests coalesced.
        self.revisions = CurrentRevision(storage.current_revision)
        self.consistent_fallbacks = 0  # consistent reads the cache did not catch up for
        # The admission chain (apiserver.admission_plugins), set by the app from
        # --enable-admission-plugins; None: no admission.
        self.admission: Admission | None = None

    # ---- helpers -----------------------------------------------------------------

    def cache(self, info: ResourceInfo) -> WatchCache:
        return self.caches[info.storage_resource]

    def _ttl(self, info: ResourceInfo) -> int | None:
        return strategy_for(info).ttl(self.event_ttl)

    def _wrote(self, info: ResourceInfo, rev: int, key: str | None = None) -> None:
        if rev > self.last_write[info.storage_resource]:
            self.last_write[info.storage_resource] = rev
        self.cache(info).note_write(rev, key)

    async def _room(self, info: ResourceInfo) -> None:
        await self.cache(info).room_for_write()

    async def fresh_cache(self, info: ResourceInfo, timeout: float = 5.0) -> WatchCache | None:
        c = self.cache(info)
        if await c.wait_for_revision(self.last_write[info.storage_resource], timeout):
            return c
        return None

    async def _read(self, info: ResourceInfo, key: str) -> CachedObject | None:
        try:
            kv = await self.storage.get(key)
        except StorageError as e:
            raise errors.unavailable(str(e)) from None
        if kv is None:
            return None
        obj, raw = decode_object(kv.value, kv.mod_revision)
        return CachedObject(key, obj, raw, kv.mod_revision)

    async def check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
        if not info.namespaced:
            return
        ns_key = object_key(namespaces.INFO, None, namespace)
        c = await self.fresh_cache(namespaces.INFO)
        co = c.get(ns_key) if c is not None else None
        if co is None:
            # Not in the cache: perhaps created through another API server a moment
            # ago; etcd decides (the plugin's live lookup when its lister misses).
            co = await self._read(namespaces.INFO, ns_key)
        if co is None:
            raise errors.not_found(namespaces.INFO, namespace)
        if namespaces.is_terminating(co.obj):
            raise errors.forbidden(
                info, name, f"unable to create new content in namespace {namespace} "
                            f"because it is being terminated")

    # ---- admission (apiserver.admission_plugins) ------------------------------------

    def _admission_for(self, operation: str, info: ResourceInfo,
                       subresource: str | None) -> Admission | None:
        """The chain, if any of its plugins handles such a request."""
        a = self.admission
        return a if a is not None and a.wants(operation, info, subresource) else None

    def _admit_update(self, a: Admission, req: AdmissionRequest, new: JSONDict) -> JSONDict:
        """Mutating plugins on an update; a change they make is validated again (the
        strategy validated the object before them)."""
        if not a.mutating_for(req.operation, req.info, req.subresource):
            return new
        before = orjson.dumps(new)
        a.admit(req)
        out = req.obj if req.obj is not None else new
        if orjson.dumps(out) != before:
            assert req.old is not None
            strategy_for(req.info).validate(out, req.old)
        return out

    async def connect(self, info: ResourceInfo, namespace: str | None, name: str,
                      subresource: str, options: Any = None) -> None:
        """CONNECT admission of a stream or proxy subresource (exec, attach,
        portforward, proxy) before it is opened; ``options``: the request's query."""
        a = self._admission_for(CONNECT, info, subresource)
        if a is None:
            return
        req = a.request(CONNECT, info, namespace, name, subresource, None, None, False, options)
        a.admit(req)
        await a.validate(req)

    # ---- read ----------------------------------------------------------------------

    async def consistent_cache(self, info: ResourceInfo,
                               timeout: float = CONSISTENT_READ_WAIT) -> WatchCache | None:
        """The cache once it reflects every write acknowledged before this call by any
        API server (Kubernetes' consistent reads from cache, KEP-2340): etcd's current
        revision by a quorum read, then the cache caught up to it (etcd's progress
        answers vouch for a type with no event since); None when it has not within
        ``timeout`` (the caller reads etcd, as Kubernetes falls back)."""
        try:
            rev = await self.revisions.get()
        except StorageError as e:
            raise errors.unavailable(str(e)) from None
        c = self.cache(info)
        if not c.trust_progress:
            # Only events can move it: a quiet type would wait the whole timeout.
            timeout = min(timeout, 0.1)
        if await c.wait_for_revision(rev, timeout):
            return c
        self.consistent_fallbacks += 1
        return None

    async def get(self, info: ResourceInfo, namespace: str | None, name: str,
                  resource_version: str | None = None) -> CachedObject:
        key = object_key(info, namespace, name)
        if resource_version == "0" or (resource_version and self.cache(info).synced.is_set()
                                       and self.cache(info).fresh_revision
                                       >= _parse_rv(resource_version, info, name)):
            # Any copy (0), or one at least as new as the given version: the cache's.
            co = self.cache(info).get(key)
        else:
            # Unset: the current object, read from etcd with a quorum read, as
            # Kubernetes' cacher hands a GET without resourceVersion to etcd (so it
            # reflects the writes of every API server).
            co = await self._read(info, key)
        if co is None:
            raise errors.not_found(info, name)
        return co

    async def list_objects(self, info: ResourceInfo, namespace: str | None,
                           pred: Predicate | None,
                   *, resource_version: str | None = None, rv_match: str | None = None,
                   limit: int = 0, continue_token: str | None = None) -> bytes:
        prefix = collection_prefix(info, namespace)
        if continue_token or (limit > 0 and resource_version != "0") or rv_match == "Exact":
            return await self._list_etcd(info, prefix, pred, resource_version, rv_match, limit,
                                         continue_token)
        c: WatchCache | None
        if resource_version == "0":
            c = self.cache(info)
            if not c.synced.is_set():
                c = await self.fresh_cache(info)
        elif resource_version:
            want = _parse_rv(resource_version, info, "")
            c = self.cache(info)
            if not await c.wait_for_revision(want, 3.0):
                raise errors.timeout(f"Timeout: Too large resource version: {want}, current: "
                                     f"{c.revision}")
        else:
            c = await self.consistent_cache(info)
        if c is None:
            return await self._list_etcd(info, prefix, pred, None, None, 0, None)
        items, rev = c.list_objects(pred, prefix if namespace is not None else None)
        return self._list_body(info, [co.raw for co in items], rev, None)

    def _list_body(self, info: ResourceInfo, raws: list[bytes], rev: int,
                   cont: str | None, remaining: int | None = None) -> bytes:
        md: JSONDict = {"resourceVersion": str(rev)}
        if cont:
            md["continue"] = cont
            if remaining is not None:
                md["remainingItemCount"] = remaining
        head = orjson.dumps({"kind": info.list_kind, "apiVersion": info.api_version,
                             "metadata": md})
        return head[:-1] + b',"items":[' + b",".join(raws) + b"]}"

    async def _list_etcd(self, info: ResourceInfo, prefix: str, pred: Predicate | None,
                         resource_version: str | None, rv_match: str | None, limit: int,
                         continue_token: str | None) -> bytes:
        revision = 0
        start: str | None = None
        if continue_token:
            revision, start = decode_continue(continue_token, prefix)
        elif resource_version and resource_version != "0" and rv_match == "Exact":
            revision = _parse_rv(resource_version, info, "")
        raws: list[bytes] = []
        read_rev = revision
        more = False
        last_key: str | None = None
        try:
            while True:
                res = await self.storage.list_prefix(prefix, revision=read_rev, start_key=start,
                                              limit=limit)
                if read_rev == 0:
                    read_rev = res.revision
                stopped_early = False
                for i, kv in enumerate(res.kvs):
                    last_key = kv.key
                    obj, raw = decode_object(kv.value, kv.mod_revision)
                    if pred is None or pred(obj):
                        raws.append(raw)
                        if limit and len(raws) >= limit:
                            stopped_early = i < len(res.kvs) - 1
                            break
                if limit and len(raws) >= limit:
                    more = stopped_early or res.more
                    break
                if not limit or not res.more or last_key is None:
                    break
                start = last_key + "\0"
        except CompactedError:
            if continue_token:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results. Continuing with the provided token results in an inconsistent "
                    "list - objects that were created, modified, or deleted between the time "
                    "the first chunk was returned and now may show up in the list.") from None
            raise errors.gone("The resourceVersion for the provided list is too old.") from None
        except FutureRevisionError:
            raise errors.timeout(f"Timeout: Too large resource version: {revision}") from None
        except StorageError as e:
            raise errors.unavailable(str(e)) from None
        cont = None
        if more and last_key is not None:
            cont = encode_continue(read_rev, last_key[len(prefix):] + "\0")
        return self._list_body(info, raws, read_rev, cont)

    # ---- create --------------------------------------------------------------------

    def _prepare_create(self, info: ResourceInfo, namespace: str | None, body: JSONDict,
                        dry_run: bool = False, admit: bool = True,
                        manager: str | None = None) -> JSONDict:
        _check_body_kind(info, body)
        obj = dict(body)
        obj["kind"] = info.kind
        obj["apiVersion"] = info.api_version
        md = obj.get("metadata")
        if md is None:
            md = {}
        if not isinstance(md, dict):
            raise errors.invalid(info, None, [{"reason": "FieldValueInvalid",
                                               "message": "Invalid value: must be an object",
                                               "field": "metadata"}])
        md = dict(md)
        obj["metadata"] = md
        if info.namespaced:
            _check_body_namespace(md, namespace)
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        s = strategy_for(info)
        s.default(obj)
        a = self.admission
        if admit and a is not None and a.mutating_for(CREATE, info, None):
            req = a.request(CREATE, info, namespace, str(md.get("name") or ""), None, obj, None,
                            dry_run)
            a.admit(req)
            if req.obj is not None:
                obj = req.obj
                md = meta(obj)
        # After mutating admission, as BeforeCreate generates it.
        if not md.get("name") and isinstance(md.get("generateName"), str) and md["generateName"]:
            md["name"] = generate_name(md["generateName"])
        s.prepare_for_create(obj)
        fieldmanager.track(info, s, None, obj, manager)
        s.validate(obj)
        return obj

    async def create(self, info: ResourceInfo, namespace: str | None, body: JSONDict,
                     dry_run: bool = False, manager: str | None = None) -> Result:
        """``manager``: the field manager whose fields the create records (None: the
        managedFields ``body`` holds, as an apply on create computed them)."""
        pre = self._admission_for(CREATE, info, None)
        if pre is not None:
            await pre.prepare(CREATE, info, None)  # e.g. LimitRanger's cache up to date
        obj = self._prepare_create(info, namespace, body, dry_run, manager=manager)
        md = obj["metadata"]
        await self.check_namespace(info, namespace or "", md["name"])
        hooks = self.hooks.get(info.storage_resource)
        finish = await hooks.begin_create(obj, dry_run) if hooks is not None else None
        try:
            a = self._admission_for(CREATE, info, None)
            if a is not None:
                await a.validate(a.request(CREATE, info, namespace, md["name"], None, obj, None,
                                           dry_run))
            if dry_run:
                return Result(obj, orjson.dumps(obj))
            res = await self._create(info, namespace, body, obj)
        except BaseException:
            if finish is not None:
                await finish(False)
            raise
        if finish is not None:
            await finish(True)
        return res

    async def _create(self, info: ResourceInfo, namespace: str | None, body: JSONDict,
                      obj: JSONDict) -> Result:
        md = obj["metadata"]
        generated = bool(md.get("generateName")) and body.get("metadata", {}).get("name") is None
        await self._room(info)
        for attempt in range(5):
            key = object_key(info, namespace, md["name"])
            value = orjson.dumps(obj)
            try:
                rev = await self.storage.create(key, value, self._ttl(info))
            except KeyExistsError:
                if generated and attempt < 4:
                    md["name"] = generate_name(md["generateName"])
                    continue
                raise errors.already_exists(info, md["name"]) from None
            except StorageError as e:
                raise _write_error(e) from None
            self._wrote(info, rev, key)
            res = _result(obj, rev)
            # _result appends resourceVersion to metadata as decode_object does, so
            # (obj, raw) is what the watch cache would decode from ``value``. Callers
            # only send res.raw, so the cache may own obj from here on.
            self.cache(info).remember_write(rev, key, value, res.obj, res.raw)
            return res
        raise errors.already_exists(info, md["name"])  # pragma: no cover

    # ---- update --------------------------------------------------------------------

    async def guaranteed_update(self, info: ResourceInfo, namespace: str | None, name: str,
                                mutate: Mutator, precondition_rv: int | None = None,
                                precondition_uid: str | None = None,
                                dry_run: bool = False, *, subresource: str | None = None,
                                operation: str = UPDATE, options: Any = None) -> Result:
        """Read, mutate, admit, compare-and-swap; retried on a lost race unless a
        resourceVersion precondition was given (then the race is the client's 409).
        Admission (``operation`` on ``subresource``: pods/binding is a CREATE) runs on
        every try, so the object the plugins checked is the one written."""
        key = object_key(info, namespace, name)
        should_delete_now = strategy_for(info).should_delete_now
        hooks = self.hooks.get(info.storage_resource)
        c = self.cache(info)
        # The cache's copy is as fresh as etcd's once it has applied this server's writes
        # of the key (of the type, at the latest); otherwise read etcd. (A stale read
        # would only cost a CAS retry.)
        cur = c.get(key) if c.revision >= self.last_write[info.storage_resource] or \
            c.fresh_for(key) else None
        # Whether ``cur`` is etcd's own answer. The cache's copy has every write of this
        # server, not those of other API servers: a decision that only a stale copy
        # could make (a failed precondition, nothing to write) is checked on etcd's.
        current = cur is None
        if cur is None:
            cur = await self._read(info, key)
        pre = self._admission_for(operation, info, subresource)
        if pre is not None:
            await pre.prepare(operation, info, subresource)
        for _ in range(16):
            if cur is None:
                raise errors.not_found(info, name)
            if precondition_rv is not None and cur.rv != precondition_rv:
                if not current:
                    cur, current = await self._read(info, key), True
                    continue
                raise errors.conflict(info, name)
            # The current object, for the checks below (cur.obj decodes a fresh copy on
            # each access: one for them, one for ``mutate`` to change).
            cur_obj = cur.obj
            if precondition_uid is not None and (cur_obj.get("metadata") or {}).get("uid") \
                    != precondition_uid:
                if not current:
                    cur, current = await self._read(info, key), True
                    continue
                raise errors.conflict(
                    info, name, f"Precondition failed: UID in precondition: {precondition_uid},"
                                f" UID in object meta: "
                                f"{(cur_obj.get('metadata') or {}).get('uid')}")
            new = mutate(cur.obj)
            a = self._admission_for(operation, info, subresource)
            req = None
            if a is not None:
                req = a.request(operation, info, namespace, name, subresource, new, cur_obj,
                                dry_run, options)
                new = self._admit_update(a, req, new)
            delete = should_delete_now(new)
            finish = None
            if hooks is not None and not delete:
                finish = await hooks.begin_update(new, cur_obj, dry_run)
            if a is not None:
                try:
                    await a.validate(req)
                except BaseException:
                    if finish is not None:
                        await finish(False)
                    raise
            if dry_run:
                # Everything a real write would do, except the write (?dryRun=All).
                return Result(new, orjson.dumps(new), deleted=delete)
            try:
                res = await self._write_over(info, key, name, cur, new, delete=delete,
                                             deleted_view=new, cur_obj=cur_obj,
                                             current=current)
            except BaseException as e:
                if finish is not None:
                    await finish(False)
                if isinstance(e, _Unverified):
                    cur, current = await self._read(info, key), True
                    continue
                if not isinstance(e, ConflictError):
                    raise
                if precondition_rv is not None:
                    raise errors.conflict(info, name) from None
                if e.current is None:
                    raise errors.not_found(info, name) from None
                obj, raw = decode_object(e.current.value, e.current.mod_revision)
                cur = CachedObject(key, obj, raw, e.current.mod_revision)
                current = True
            else:
                if finish is not None:
                    await finish(True)
                return res
        raise errors.conflict(info, name, "too many concurrent updates, try again")

    async def _write_over(self, info: ResourceInfo, key: str, name: str, cur: CachedObject,
                          new: JSONDict, *, delete: bool, deleted_view: JSONDict,
                          cur_obj: JSONDict | None = None, current: bool = True) -> Result:
        """Write ``new`` over ``cur``, or delete it (answering with ``deleted_view``), only
        while it is still at cur's revision: a ConflictError says it is not. An update that
        would change nothing but the resourceVersion writes nothing; if ``cur`` came
        from the cache (``current`` False: another API server may have written since),
        such an update raises _Unverified instead, to be tried again on etcd's copy, as
        Kubernetes' GuaranteedUpdate does when it skipped the read. ``cur_obj``: cur's
        object if already decoded (not changed here)."""
        await self._room(info)
        if cur_obj is None:
            cur_obj = cur.obj
        try:
            if delete:
                rev = await self.storage.delete(key, cur.rv)
                self._wrote(info, rev, key)
                res = _result(deleted_view, rev)
                res.deleted = True
                hooks = self.hooks.get(info.storage_resource)
                if hooks is not None:
                    await hooks.after_delete(cur_obj)
                return res
            if _strip_rv(new) == _strip_rv(cur_obj):
                if not current:
                    raise _Unverified()
                return Result(cur_obj, cur.raw)
            value = encode_for_storage(new)
            rev = await self.storage.update(key, value, cur.rv, self._ttl(info))
        except ConflictError:
            raise
        except KeyNotFoundError:
            raise errors.not_found(info, name) from None
        except StorageError as e:
            raise _write_error(e) from None
        self._wrote(info, rev, key)
        res = _result(new, rev)
        # As on create: the watch event of this update reuses the JSON just encoded.
        self.cache(info).remember_write(rev, key, value, res.obj, res.raw)
        return res

    def _check_identity(self, info: ResourceInfo, namespace: str | None, name: str,
                        body: JSONDict) -> JSONDict:
        _check_body_kind(info, body)
        md = body.get("metadata")
        if md is None:
            md = {}
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        body_name = md.get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL "
                f"({name})")
        if info.namespaced:
            _check_body_namespace(md, namespace)
        return md

    def _body_rv(self, info: ResourceInfo, name: str, md: JSONDict) -> int | None:
        rv = md.get("resourceVersion")
        if rv in (None, ""):
            return None
        return _parse_rv(rv, info, name)

    def _finish_update(self, info: ResourceInfo, namespace: str | None, name: str,
                       new: JSONDict, old: JSONDict, manager: str | None = None) -> JSONDict:
        new = dict(new)
        new["kind"] = info.kind
        new["apiVersion"] = info.api_version
        raw_md = new.get("metadata")
        if raw_md is not None and not isinstance(raw_md, dict):
            raise errors.invalid(info, name, [{"reason": "FieldValueInvalid",
                                               "message": "Invalid value: must be an object",
                                               "field": "metadata"}])
        md = dict(raw_md or {})
        md["name"] = name
        if info.namespaced:
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        new["metadata"] = md
        s = strategy_for(info)
        s.prepare_for_update(new, old)
        s.default(new)
        s.prepare_for_update(new, old)  # defaults may touch spec/status
        added = _added_finalizers(new, old)
        if added and (old.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.invalid(info, name, [{
                "reason": "FieldValueForbidden",
                "message": "Forbidden: no new finalizers can be added if the object is being "
                           "deleted, found new finalizers " + str(added),
                "field": "metadata.finalizers"}])
        fieldmanager.track(info, s, old, new, manager)
        s.validate(new, old)
        return new

    async def update(self, info: ResourceInfo, namespace: str | None, name: str,
                     body: JSONDict, dry_run: bool = False, manager: str | None = None) -> Result:
        md = self._check_identity(info, namespace, name, body)
        rv = self._body_rv(info, name, md)

        def mutate(old: JSONDict) -> JSONDict:
            return self._finish_update(info, namespace, name, body, old, manager)

        return await self.guaranteed_update(info, namespace, name, mutate, rv,
                                            dry_run=dry_run)

    async def update_status(self, info: ResourceInfo, namespace: str | None, name: str,
                            body: JSONDict, dry_run: bool = False,
                            manager: str | None = None) -> Result:
        md = self._check_identity(info, namespace, name, body)
        rv = self._body_rv(info, name, md)

        s = strategy_for(info)

        def mutate(old: JSONDict) -> JSONDict:
            new = s.status_write(body, old)
            fieldmanager.track(info, s, old, new, manager, "status")
            s.validate(new, old)
            return new

        return await self.guaranteed_update(info, namespace, name, mutate, rv,
                                            dry_run=dry_run, subresource="status")

    async def update_subresource(self, info: ResourceInfo, namespace: str | None, name: str,
                                 subresource: str, body: JSONDict,
                                 dry_run: bool = False) -> Result:
        """A PUT of the whole object through one of the strategy's
        ``writable_subresources`` (pods/ephemeralcontainers)."""
        md = self._check_identity(info, namespace, name, body)
        rv = self._body_rv(info, name, md)

        def mutate(old: JSONDict) -> JSONDict:
            return _finish_subresource_update(info, subresource, body, old)

        return await self.guaranteed_update(info, namespace, name, mutate, rv,
                                            dry_run=dry_run, subresource=subresource)

    async def patch(self, info: ResourceInfo, namespace: str | None, name: str,
                    content_type: str, patch_body: bytes, subresource: str | None = None,
                    dry_run: bool = False, manager: str | None = None,
                    applied: JSONDict | None = None, force: bool = False) -> Result:
        """``applied``: a server-side apply's configuration (decoded), applied by
        ``manager`` (``force``: taking the fields other managers own)."""
        st = strategy_for(info)

        def mutate(old: JSONDict) -> JSONDict:
            old_rv = (old.get("metadata") or {}).get("resourceVersion")
            who = manager
            if applied is not None:
                patched = fieldmanager.apply_object(info, st, old, applied, manager or "",
                                                    force, subresource)
                who = None  # the apply recorded its fields
            else:
                patched = safe_apply_patch(content_type, old, patch_body)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce an object")
            pmd = patched.get("metadata")
            if not isinstance(pmd, dict):
                pmd = {}
            prv = pmd.get("resourceVersion")
            if prv not in (None, "") and str(prv) != str(old_rv):
                raise errors.conflict(info, name)
            if pmd.get("name") not in (None, name):
                raise errors.bad_request(
                    f"the name of the object ({pmd.get('name')}) does not match the name on "
                    f"the URL ({name})")
            if subresource == "status":
                s = strategy_for(info)
                new = s.status_write(patched, old)
                if applied is not None:
                    mf = (patched.get("metadata") or {}).get("managedFields")
                    if mf:
                        new["metadata"]["managedFields"] = mf
                    else:
                        new["metadata"].pop("managedFields", None)
                fieldmanager.track(info, st, old, new, who, "status")
                s.validate(new, old)
                return new
            if subresource is not None:
                return _finish_subresource_update(info, subresource, patched, old)
            return self._finish_update(info, namespace, name, patched, old, who)

        return await self.guaranteed_update(info, namespace, name, mutate, dry_run=dry_run,
                                            subresource=subresource)

    # ---- delete --------------------------------------------------------------------

    async def delete(self, info: ResourceInfo, namespace: str | None, name: str,
                     opts: DeleteOptions) -> Result:
        """Delete at once, or mark for deletion (deletionTimestamp) while finalizers, a
        grace period or the kind's own hold keep the object (BeforeDelete + the store's
        updateForGracefulDeletionAndFinalizers)."""
        key = object_key(info, namespace, name)
        s = strategy_for(info)
        s.check_delete(name)
        plan = _delete_plan(info, name, opts)
        c = self.cache(info)
        cached = c.get(key) if c.revision >= self.last_write[info.storage_resource] or \
            c.fresh_for(key) else None
        for _ in range(16):
            # The first try may use the cache: the guarded write catches staleness, and
            # what only a stale copy could decide (a failed precondition, nothing to
            # write) is checked again on etcd's copy.
            current = cached is None
            cur = cached or await self._read(info, key)
            cached = None
            if cur is None:
                raise errors.not_found(info, name)
            cur_obj = cur.obj  # a fresh copy on each access: one to read, one to change
            md = cur_obj.get("metadata") or {}
            try:
                _check_delete_preconditions(info, name, plan, cur.rv, md.get("uid"))
            except errors.ApiError:
                if current:
                    raise
                continue
            new = cur.obj
            nmd = meta(new)
            finalizers = _finalizers_for(plan.policy, nmd.get("finalizers") or [])
            if finalizers:
                nmd["finalizers"] = finalizers
            else:
                nmd.pop("finalizers", None)
            already = md.get("deletionTimestamp")
            grace = _mark_deleted(nmd, md, s.grace_period(new, plan.grace))
            s.prepare_for_delete(new)

            pending = bool(finalizers) or grace > 0 or s.holds_deletion(new)
            a = self._admission_for(DELETE, info, None)
            if a is not None:
                req = a.request(DELETE, info, namespace, name, None, None, cur_obj, opts.dry_run,
                                opts)
                a.admit(req)
                await a.validate(req)
            if opts.dry_run:
                return Result(new, orjson.dumps(new), deleted=not pending)
            try:
                return await self._write_over(info, key, name, cur, new, delete=not pending,
                                              deleted_view=new if already else cur_obj,
                                              cur_obj=cur_obj, current=current)
            except _Unverified:
                continue
            except ConflictError:
                if plan.precondition_rv is not None:
                    raise errors.conflict(info, name) from None
        raise errors.conflict(info, name, "too many concurrent updates, try again")

    async def delete_collection(self, info: ResourceInfo, namespace: str | None,
                                pred: Predicate | None, opts: DeleteOptions) -> bytes:
        c = await self.consistent_cache(info)
        if c is not None:
            items, _ = c.list_objects(pred, collection_prefix(info, namespace)
                              if namespace is not None else None)
            names = [(co.attrs.get("metadata") or {}) for co in items]
        else:
            res = await self.storage.list_prefix(collection_prefix(info, namespace))
            names = []
            for kv in res.kvs:
                obj, _ = decode_object(kv.value, kv.mod_revision)
                if pred is None or pred(obj):
                    names.append(obj.get("metadata") or {})
        raws: list[bytes] = []
        rev = 0
        for md in names:
            try:
                r = await self.delete(info, md.get("namespace"), md.get("name", ""),
                                      DeleteOptions(opts.grace_period_seconds,
                                                    opts.propagation_policy,
                                                    opts.orphan_dependents,
                                                    dry_run=opts.dry_run))
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                raise
            raws.append(r.raw)
            rev = max(rev, int(r.obj.get("metadata", {}).get("resourceVersion") or 0))
        return self._list_body(info, raws, rev or self.cache(info).revision, None)

    # ---- bootstrap -------------------------------------------------------------------

    async def ensure_exists(self, info: ResourceInfo, bodies: list[JSONDict]) -> None:
        """Create each object unless one of its name exists (the bootstrap objects,
        written by the server itself before it is ready: not through admission)."""
        for body in bodies:
            obj = self._prepare_create(info, None, body, admit=False)
            try:
                rev = await self.storage.create(
                    object_key(info, None, obj["metadata"]["name"]), orjson.dumps(obj))
                self._wrote(info, rev)
            except KeyExistsError:
                pass


class _Unverified(Exception):
    """An update decided on the cache's copy that must be tried again on etcd's."""


def _check_body_namespace(md: JSONDict, namespace: str | None) -> None:
    """A namespaced body may leave out its namespace, not contradict the path's."""
    body_ns = md.get("namespace")
    if body_ns and body_ns != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent "
            "on the request")


def _finish_subresource_update(info: ResourceInfo, subresource: str, body: JSONDict,
                               old: JSONDict) -> JSONDict:
    s = strategy_for(info)
    new = s.prepare_for_subresource_update(subresource, body, old)
    s.default(new)
    s.validate(new, old, subresource)
    return new


def safe_apply_patch(content_type: str, original: JSONDict, body: bytes) -> JSONDict:
    """``apiserver.patch.apply_patch`` with every failure as a Status: a malformed
    patch (odd directives, wrong types) is the client's error, never a 500."""
    from apiserver.patch import PatchError, apply_patch

    try:
        out = apply_patch(content_type, original, body)
    except PatchError as e:
        raise errors.ApiError(e.code, e.reason, e.message) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as e:
        raise errors.ApiError(422, "Invalid", f"the patch could not be applied: {e}") from None
    if not isinstance(out, dict):
        raise errors.bad_request("the patch did not produce an object")
    return out


def _deletion_time(grace: int) -> str:
    if grace <= 0:
        return now()
    from datetime import UTC, datetime, timedelta

    return format_time(datetime.now(UTC) + timedelta(seconds=grace))
