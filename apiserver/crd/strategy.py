"""The strategy of a custom resource (apiextensions-apiserver's
pkg/registry/customresource/strategy.go and tableconvertor): the CRD's structural schema
defaults, prunes and validates each object, the status subresource keeps status apart,
the printer columns make its Table.

The schema engine is ``api.structural`` (defaulting, pruning, validation with
Kubernetes' messages); until it is installed, objects are stored as sent.
"""

from __future__ import annotations

import copy
import importlib
from datetime import datetime
from typing import Any, ClassVar

from api.timeutil import since
from api.validation.field import FieldError, invalid, required
from api.validation.meta import validate_object_meta
from apiserver import errors
from apiserver.customresources import CustomResourceInfo, json_path, request_version
from apiserver.strategies.base import AGE, NAME, Row, Strategy, column, meta, name_of

JSONDict = dict[str, Any]

def _structural() -> Any:
    try:
        return importlib.import_module("api.structural").Structural
    except (ImportError, AttributeError):
        return None


class _NoSchema:
    """Stands in for a compiled schema while api.structural is not there."""

    def default(self, obj: JSONDict) -> None:
        pass

    def prune(self, obj: JSONDict) -> list[str]:
        return []

    def validate(self, obj: JSONDict, old: JSONDict | None = None) -> list[FieldError]:
        return []


def compile_schema(schema: JSONDict) -> Any:
    cls = _structural()
    if cls is None or not schema:
        return _NoSchema()
    try:
        return cls.compile(schema)
    except Exception:  # a schema the engine cannot compile was refused at CRD validation
        return _NoSchema()


def _cell(type_: str, value: Any, now: datetime | None) -> Any:
    """cellForJSONValue: a typed cell, None when the value does not fit the type."""
    if value is None:
        return None
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            import orjson
            return orjson.dumps(value).decode()
        return str(value)
    if type_ == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if type_ == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) \
            else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date":
        return since(value, now) if isinstance(value, str) else None
    return None


_AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


class CustomResourceStrategy(Strategy):
    has_generation: ClassVar[bool] = True

    def __init__(self, info: CustomResourceInfo, versions: dict[str, CustomResourceInfo]
                 ) -> None:
        super().__init__(info)
        self.cr_info = info
        self.selectable_fields = frozenset({"metadata.name", "metadata.namespace"})
        self.schemas = {v: compile_schema(i.schema) for v, i in versions.items()}
        self.versions = versions
        self._set_columns(info)
        # Per served version: the same strategy with that version's printer columns.
        self.views: dict[str, CustomResourceStrategy] = {}
        for v, i in versions.items():
            view = copy.copy(self)
            view._set_columns(i)
            self.views[v] = view
            view.views = self.views

    def _set_columns(self, info: CustomResourceInfo) -> None:
        cols = list(info.printer_columns) or [_AGE_COLUMN]
        self.printer = cols
        self.columns = [NAME] + [  # type: ignore[misc]
            AGE if c is _AGE_COLUMN else column(
                str(c.get("name", "")), str(c.get("type", "string")),
                int(c.get("priority") or 0), str(c.get("format") or ""),
                str(c.get("description") or ""))
            for c in cols]

    def version_view(self, version: str) -> CustomResourceStrategy:
        """This strategy as the Table of ``version`` needs it (its printer columns)."""
        return self.views.get(version, self)

    def _schema(self) -> Any:
        v = request_version.get() or self.cr_info.storage_version
        return self.schemas.get(v) or self.schemas.get(self.cr_info.storage_version) \
            or _NoSchema()

    def default(self, obj: JSONDict) -> None:
        s = self._schema()
        s.prune(obj)
        s.default(obj)

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        if self.status_subresource:
            obj.pop("status", None)

    def validate(self, obj: JSONDict, old: JSONDict | None = None,
                 subresource: str | None = None) -> None:
        md = meta(obj)
        name = md.get("name")
        # ObjectMeta as for any kind (name a DNS subdomain, labels, annotations, owners,
        # finalizers); "" names no built-in kind, whose own name rule would apply
        errs = validate_object_meta(md, "")
        if self.info.namespaced and not md.get("namespace"):
            errs.append(required("metadata.namespace", ""))
        errs += self._schema().validate(obj, old)
        scale = self.cr_info.scale
        if scale:
            for p in (scale.get("specReplicasPath"), scale.get("statusReplicasPath")):
                v = json_path(obj, str(p or ""))
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                      or v < 0 or v > 2**31 - 1):
                    errs.append(invalid(str(p)[1:], v, "must be an integer in [0, 2147483647]"
                                        if not isinstance(v, int) or isinstance(v, bool)
                                        else "should be greater than or equal to 0"))
        if errs:
            raise errors.invalid(self.info, name if isinstance(name, str) else None,
                                 [e.to_cause() for e in errs])

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        cells: list[Any] = [name_of(obj)]
        for c in self.printer:
            cells.append(_cell(str(c.get("type", "string")),
                               json_path(obj, str(c.get("jsonPath", ""))), now))
        return cells, []


class CustomResourceWithStatusStrategy(CustomResourceStrategy):
    status_subresource: ClassVar[bool] = True


def strategy_for_crd(storage: CustomResourceInfo,
                     versions: dict[str, CustomResourceInfo]) -> CustomResourceStrategy:
    cls = (CustomResourceWithStatusStrategy if "status" in storage.subresources
           else CustomResourceStrategy)
    return cls(storage, versions)
