"""The default strategy: what every kind does unless its own strategy says otherwise.

After kube-apiserver's rest.RESTCreateStrategy / RESTUpdateStrategy /
RESTDeleteStrategy (k8s.io/apiserver/pkg/registry/rest/{create,update,delete}.go)
and the options of the generic store (registry/generic/registry/store.go): a
strategy prepares an object for create and update, canonicalizes and validates it,
decides how deletion proceeds (grace period, what holds an object back), prints its
Table rows and names the fields a field selector may use. The generic registry
calls these hooks and never asks which kind it is writing.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any, ClassVar

from api import fields
from api.base import dig
from api.resources import ResourceInfo
from api.timeutil import now, since
from apiserver import admission

JSONDict = dict[str, Any]
Row = tuple[list[Any], list[JSONDict]]  # the cells, and the row's conditions

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SimpleNameGenerator alphabet

_SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "generation", "resourceVersion", "selfLink")
# Metadata an update keeps from the stored object (what the client sent is ignored).
_KEPT_ON_UPDATE = ("uid", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "generation")


def generate_name(base: str) -> str:
    """names.SimpleNameGenerator: ``base`` plus five random characters."""
    base = base[: 63 - 5]
    return base + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


def meta(obj: JSONDict) -> JSONDict:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    return md


# ---- Table columns (pkg/printers/internalversion) ----------------------------------

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
             "although some resources may allow a client to request the generation of an "
             "appropriate name automatically. Name is primarily intended for creation "
             "idempotence and configuration definition. Cannot be updated. More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
            "was created. It is not guaranteed to be set in happens-before order across "
            "separate operations. Clients may not set this value. It is represented in "
            "RFC3339 form and is in UTC.")


def column(name: str, type_: str = "string", priority: int = 0, fmt: str = "",
           description: str = "") -> JSONDict:
    """A metav1.TableColumnDefinition; priority 1 columns are kubectl's ``-o wide``."""
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


NAME = column("Name", fmt="name", description=_NAME_DOC)
AGE = column("Age", description=_AGE_DOC)
NAME_PRIORITY_1 = column("Name", priority=1, fmt="name", description=_NAME_DOC)


def name_of(obj: JSONDict) -> str:
    return dig(obj, "metadata", "name") or ""


def age_of(obj: JSONDict, now: datetime | None) -> str:
    return since(dig(obj, "metadata", "creationTimestamp"), now)


class Strategy:
    """The default rules; a kind's strategy subclasses it and overrides what differs."""

    #: Status is written only through /status; a main-resource write keeps it.
    status_subresource: ClassVar[bool] = False
    #: metadata.generation starts at 1 and counts spec changes.
    has_generation: ClassVar[bool] = False
    #: A delete that removes the object at once answers with the object rather than a
    #: Status (the generic store's ReturnDeletedObject).
    return_deleted_object: ClassVar[bool] = False
    #: Subresources served besides ``info.subresources`` but not listed in discovery.
    hidden_subresources: ClassVar[tuple[str, ...]] = ()
    #: Subresources written as the whole object (GET/PUT/PATCH) besides status, each
    #: through ``prepare_for_subresource_update`` (pods/ephemeralcontainers).
    writable_subresources: ClassVar[tuple[str, ...]] = ()
    #: The object keeps its fields under spec and status (an Event does not).
    spec_and_status: ClassVar[bool] = True
    #: The Table's columns, in the order of ``table_row``'s cells.
    columns: ClassVar[list[JSONDict]] = [NAME, AGE]
    #: metadata fields a /status write takes from the request, as kinds whose status
    #: strategy resets only some of the object (deploymentStatusStrategy: spec and labels).
    status_metadata: ClassVar[tuple[str, ...]] = ()

    def __init__(self, info: ResourceInfo) -> None:
        self.info = info
        # The field selector labels this kind supports (the grammar and the lists stay
        # in api.fields, which clients share).
        self.selectable_fields = frozenset(fields.supported_fields(info.kind))

    # ---- create (RESTCreateStrategy) -----------------------------------------------

    def default(self, obj: JSONDict) -> None:
        admission.default(self.info, obj)

    def prepare_for_create(self, obj: JSONDict) -> None:
        """Reset what the server owns; a kind also resets what clients may not set."""
        md = meta(obj)
        for k in _SERVER_OWNED:
            md.pop(k, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now()
        if self.has_generation:
            md["generation"] = 1
        self.canonicalize(obj)

    def canonicalize(self, obj: JSONDict) -> None:
        """Bring the object to its stored form (write-only fields merged, ...)."""

    def validate(self, obj: JSONDict, old: JSONDict | None = None,
                 subresource: str | None = None) -> None:
        """422 naming every bad field; ``old`` for an update, through ``subresource``
        when it is not a write of the object itself or its status."""
        admission.validate(self.info, obj, old, subresource)

    # ---- update (RESTUpdateStrategy) -----------------------------------------------

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        """A main-resource write: server-owned metadata (and status, for kinds with a
        status subresource) come from ``old``; a spec change bumps the generation."""
        md, omd = meta(new), meta(old)
        for k in _KEPT_ON_UPDATE:
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        if "managedFields" not in md and "managedFields" in omd:
            # A client that does not know managedFields keeps them (the field manager
            # records the write's own fields on top).
            md["managedFields"] = omd["managedFields"]
        md.pop("selfLink", None)
        self.canonicalize(new)
        if self.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if self.has_generation and new.get("spec") != old.get("spec"):
            md["generation"] = int(omd.get("generation") or 1) + 1

    def prepare_for_status_update(self, new_status: Any, old: JSONDict) -> JSONDict:
        """A /status write: everything but status stays as it was."""
        new = dict(old)
        new["metadata"] = dict(meta(old))
        if new_status is None:
            new.pop("status", None)
        else:
            new["status"] = new_status
        return new

    def status_write(self, body: JSONDict, old: JSONDict) -> JSONDict:
        """The object a /status write of ``body`` (the request's, or the patched object)
        stores: its status, and its ``status_metadata`` fields."""
        new = self.prepare_for_status_update(body.get("status"), old)
        bmd = body.get("metadata")
        bmd = bmd if isinstance(bmd, dict) else {}
        for k in self.status_metadata:
            if bmd.get(k) is not None:
                new["metadata"][k] = bmd[k]
            else:
                new["metadata"].pop(k, None)
        return new

    def prepare_for_subresource_update(self, subresource: str, new: JSONDict,
                                       old: JSONDict) -> JSONDict:
        """A write through another subresource the kind serves (``writable_subresources``,
        pods/ephemeralcontainers): the object to store, from what the client sent."""
        raise NotImplementedError(subresource)

    # ---- delete (RESTDeleteStrategy, RESTGracefulDeleteStrategy) --------------------

    def check_delete(self, name: str) -> None:
        """Raise an ApiError when the object may not be deleted at all."""

    def grace_period(self, obj: JSONDict, requested: int | None) -> int:
        """CheckGracefulDelete: seconds the object stays with a deletionTimestamp before it
        goes (0: at once unless finalizers hold it). ``requested`` is the client's
        non-negative gracePeriodSeconds."""
        return 0

    def prepare_for_delete(self, obj: JSONDict) -> None:
        """What a delete that does not remove the object at once changes besides the
        deletion metadata (the Namespace's Terminating phase)."""

    def holds_deletion(self, obj: JSONDict) -> bool:
        """Something of the kind's own (not metadata.finalizers) keeps a deleted object."""
        return False

    def should_delete_now(self, obj: JSONDict) -> bool:
        """An object being deleted goes once nothing holds it (ShouldDeleteDuringUpdate)."""
        md = meta(obj)
        if not md.get("deletionTimestamp"):
            return False
        if md.get("finalizers"):
            return False
        if self.holds_deletion(obj):
            return False
        return int(md.get("deletionGracePeriodSeconds") or 0) == 0

    # ---- storage -----------------------------------------------------------------------

    def ttl(self, event_ttl: int) -> int | None:
        """The storage lease of a write, in seconds (None: kept until deleted);
        ``event_ttl`` is the server's --event-ttl."""
        return None

    # ---- printing ----------------------------------------------------------------------

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), age_of(obj, now)], []
