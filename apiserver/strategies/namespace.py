"""Namespaces (pkg/registry/core/namespace/strategy.go and storage.go): created
Active with the ``kubernetes`` finalizer in spec.finalizers, which only
namespaces/finalize may change; a delete moves the namespace to Terminating and
spec.finalizers keeps it until the namespace controller has emptied it; the
namespaces every cluster has may not be deleted (NamespaceLifecycle's
immortalNamespaces)."""

from __future__ import annotations

from datetime import datetime

from api import resources
from api.base import dig
from api.wellknown import NAMESPACE_NAME_LABEL
from apiserver import errors
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of

BOOTSTRAP = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE = frozenset({"default", "kube-system", "kube-public"})
INFO = resources.NAMESPACES


def bootstrap_objects() -> list[JSONDict]:
    """The namespaces the API server creates at start when absent."""
    return [{"metadata": {"name": ns}} for ns in BOOTSTRAP]


def is_terminating(ns: JSONDict) -> bool:
    """No new content may be created in a namespace being deleted."""
    return bool(dig(ns, "metadata", "deletionTimestamp")) or \
        dig(ns, "status", "phase") == "Terminating"


class NamespaceStrategy(Strategy):
    status_subresource = True
    hidden_subresources = ("finalize",)
    columns = [NAME, column("Status", description="The status of the namespace"), AGE]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        spec = dict(spec or {})
        spec["finalizers"] = ["kubernetes"]
        obj["spec"] = spec
        obj["status"] = {"phase": "Active"}

    def canonicalize(self, obj: JSONDict) -> None:
        # Every namespace carries its name as a label (SetDefaults_Namespace and the
        # strategy's Canonicalize since 1.21), so that selectors can pick namespaces by
        # name: a NetworkPolicy's namespaceSelector, Pod Security exemptions.
        md = obj.get("metadata")
        name = md.get("name") if isinstance(md, dict) else None
        if isinstance(name, str) and name:
            assert isinstance(md, dict)
            labels = md.get("labels") if isinstance(md.get("labels"), dict) else {}
            md["labels"] = {**(labels or {}), NAMESPACE_NAME_LABEL: name}

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        super().prepare_for_update(new, old)
        ospec = old.get("spec") or {}
        spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
        spec = dict(spec or {})
        if "finalizers" in ospec:
            spec["finalizers"] = ospec["finalizers"]
        new["spec"] = spec

    def check_delete(self, name: str) -> None:
        if name in UNDELETABLE:
            raise errors.forbidden(self.info, name, "this namespace may not be deleted")

    def prepare_for_delete(self, obj: JSONDict) -> None:
        obj.setdefault("status", {})
        if isinstance(obj["status"], dict):
            obj["status"]["phase"] = "Terminating"

    def holds_deletion(self, obj: JSONDict) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), dig(obj, "status", "phase") or "", age_of(obj, now)], []
