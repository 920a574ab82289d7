"""CustomResourceDefinitions (apiextensions-apiserver's pkg/registry/customresourcedefinition):
status through /status, storedVersions kept with the storage version, deletion held by
the customresourcecleanup finalizer until every custom resource is gone (the CRD
controller in apiserver/crd/controller.py removes it); the Table is NAME, CREATED AT."""

from __future__ import annotations

from datetime import datetime

from api import validation as api_validation
from api.base import dig
from api.timeutil import now
from api.validation.apiextensions import validate_crd, validate_crd_update
from apiserver import errors
from apiserver.strategies.base import NAME, JSONDict, Row, Strategy, column, meta, name_of

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_CREATED_DOC = ("CreationTimestamp is a timestamp representing the server time when this "
                "object was created.")


def storage_version(crd: JSONDict) -> str | None:
    for v in dig(crd, "spec", "versions") or []:
        if isinstance(v, dict) and v.get("storage") is True:
            return str(v.get("name"))
    return None


def set_condition(status: JSONDict, type_: str, value: str, reason: str, message: str) -> None:
    """SetCRDCondition: lastTransitionTime changes only with the status."""
    conds = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    for c in conds:
        if c.get("type") == type_:
            if c.get("status") != value:
                c["lastTransitionTime"] = now()
            c.update({"status": value, "reason": reason, "message": message})
            break
    else:
        conds.append({"type": type_, "status": value, "lastTransitionTime": now(),
                      "reason": reason, "message": message})
    status["conditions"] = conds


class CustomResourceDefinitionStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME, column("Created At", "date", description=_CREATED_DOC)]

    def default(self, obj: JSONDict) -> None:
        """SetDefaults_CustomResourceDefinitionSpec (singular, listKind, conversion)."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        names = spec.get("names")
        if isinstance(names, dict):
            kind = names.get("kind")
            if isinstance(kind, str) and kind:
                names.setdefault("singular", kind.lower())
                names.setdefault("listKind", kind + "List")
        if spec.get("conversion") is None:
            spec["conversion"] = {"strategy": "None"}

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        sv = storage_version(obj)
        obj["status"] = {"storedVersions": [sv] if sv else []}

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        super().prepare_for_update(new, old)
        sv = storage_version(new)
        status = dict(new.get("status") or {})
        stored = list(status.get("storedVersions") or [])
        if sv and sv not in stored:
            status["storedVersions"] = [*stored, sv]
            new["status"] = status

    def validate(self, obj: JSONDict, old: JSONDict | None = None,
                 subresource: str | None = None) -> None:
        errs = api_validation.validate("CustomResourceDefinition", obj)
        errs += validate_crd(obj)
        if old is not None:
            errs += api_validation.validate_update("CustomResourceDefinition", old, obj)
            errs += validate_crd_update(old, obj)
        if errs:
            name = meta(obj).get("name")
            seen: set[tuple[str, str]] = set()
            causes = []
            for e in errs:
                c = e.to_cause()
                if (c["field"], c["message"]) not in seen:
                    seen.add((c["field"], c["message"]))
                    causes.append(c)
            raise errors.invalid(self.info, name if isinstance(name, str) else None, causes)

    def prepare_for_delete(self, obj: JSONDict) -> None:
        """The first delete adds the cleanup finalizer and the Terminating condition
        (the CRD's REST Delete), so its custom resources go before it does."""
        md = meta(obj)
        fins = list(md.get("finalizers") or [])
        if CLEANUP_FINALIZER not in fins:
            md["finalizers"] = [*fins, CLEANUP_FINALIZER]
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            set_condition(status, "Terminating", "True", "InstanceDeletionPending",
                          "CustomResourceDefinition marked for deletion; CustomResource "
                          "deletion will begin soon")

    def holds_deletion(self, obj: JSONDict) -> bool:
        return CLEANUP_FINALIZER in (meta(obj).get("finalizers") or [])

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), dig(obj, "metadata", "creationTimestamp") or ""], []
