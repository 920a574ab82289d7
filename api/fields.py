"""Field selectors (``spec.nodeName=n1,status.phase!=Running``) over wire dicts.

Grammar and escaping follow k8s.io/apimachinery/pkg/fields: terms joined by ``,``
(AND), operators ``=``, ``==`` and ``!=``, and ``\\,``, ``\\=``, ``\\\\`` as
escapes in values.  Which fields a kind supports follows the API server's
per-kind conversion functions; an unsupported one is refused with Kubernetes'
message ``field label not supported: <field>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from api.labels import SelectorError

__all__ = [
    "FieldSelector",
    "FieldTerm",
    "SelectorError",
    "field_value",
    "parse_field_selector",
    "supported_fields",
]

_META = {"metadata.name", "metadata.namespace"}

_SUPPORTED: dict[str, set[str]] = {
    "Pod": _META
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "Node": _META | {"spec.unschedulable"},
    "Namespace": _META | {"status.phase"},
    "Event": _META
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Deployment": set(_META),
    "DaemonSet": set(_META),
    "StatefulSet": set(_META),
    "ControllerRevision": set(_META),
    "ReplicaSet": _META | {"status.replicas"},
    # pkg/registry/core/replicationcontroller/strategy.go ControllerToSelectableFields.
    "ReplicationController": _META | {"status.replicas"},
    "Lease": set(_META),
    "HorizontalPodAutoscaler": set(_META),
    # pkg/registry/core/service/strategy.go SelectableFields (spec.type since 1.28).
    "Service": _META | {"spec.clusterIP", "spec.type"},
    "Endpoints": set(_META),
    "EndpointSlice": set(_META),
    # pkg/registry/batch/job/strategy.go JobToSelectableFields.
    "Job": _META | {"status.successful"},
    "CronJob": set(_META),
    "Role": set(_META),
    "ClusterRole": set(_META),
    "RoleBinding": set(_META),
    "ClusterRoleBinding": set(_META),
    "ServiceAccount": set(_META),
    "ResourceQuota": set(_META),
    "LimitRange": set(_META),
    "PersistentVolume": set(_META),
    "PersistentVolumeClaim": set(_META),
    "StorageClass": set(_META),
    "PodDisruptionBudget": set(_META),
    "NetworkPolicy": set(_META),
    "Ingress": set(_META),
    "IngressClass": set(_META),
    # pkg/registry/core/secret/strategy.go SelectableFields; configmaps: metadata only.
    "Secret": _META | {"type"},
    "ConfigMap": set(_META),
    "CustomResourceDefinition": set(_META),
    # pkg/registry/certificates/certificates/strategy.go SelectableFields
    "CertificateSigningRequest": _META | {"spec.signerName"},
}

# Fields whose value is not simply the string at that path.
_SPECIAL: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "source": lambda o: str((o.get("source") or {}).get("component") or ""),
    "status.successful": lambda o: str(int((o.get("status") or {}).get("succeeded") or 0)),
}


def supported_fields(kind: str) -> set[str]:
    """The field selector labels the server accepts for ``kind`` (empty set if unknown kind)."""
    return set(_SUPPORTED.get(kind, set()))


def _stringify(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# Booleans that Kubernetes formats even when unset (strconv.FormatBool of the zero value).
_BOOL_FIELDS = {"spec.unschedulable", "spec.hostNetwork"}


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The value a field selector compares against; a missing field is ""."""
    special = _SPECIAL.get(field)
    if special is not None:
        return special(obj)
    cur: Any = obj
    for part in field.split("."):
        if not isinstance(cur, Mapping):
            cur = None
            break
        cur = cur.get(part)
    if cur is None and field in _BOOL_FIELDS:
        return "false"
    return _stringify(cur)


@dataclass(frozen=True)
class FieldTerm:
    field: str
    operator: str  # "=" or "!=" ("==" is stored as "=")
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        have = field_value(obj, self.field)
        return have == self.value if self.operator == "=" else have != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{_escape(self.value)}"


class FieldSelector:
    """An AND of field terms; the empty selector matches everything."""

    __slots__ = ("_terms",)

    def __init__(self, terms: tuple[FieldTerm, ...] = ()) -> None:
        self._terms = terms

    @property
    def terms(self) -> tuple[FieldTerm, ...]:
        return self._terms

    @property
    def empty(self) -> bool:
        return not self._terms

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(t.matches(obj) for t in self._terms)

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal, if a term pins it (for the API server's indexes)."""
        for t in self._terms:
            if t.field == field and t.operator == "=":
                return t.value
        return None

    def check_supported(self, kind: str) -> None:
        """Raise SelectorError ``field label not supported: <f>`` for a field ``kind`` lacks."""
        allowed = _SUPPORTED.get(kind)
        for t in self._terms:
            if allowed is None or t.field not in allowed:
                raise SelectorError(f"field label not supported: {t.field}")

    def __str__(self) -> str:
        return ",".join(str(t) for t in self._terms)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._terms == other._terms

    def __hash__(self) -> int:
        return hash(self._terms)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(
                    f"invalid field selector value: {value!r}: invalid escape sequence"
                )
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            raise SelectorError(
                f"invalid field selector value: {value!r}: unescaped {c!r} in value"
            )
        else:
            out.append(c)
    if escaped:
        raise SelectorError(f"invalid field selector value: {value!r}: unterminated escape")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    """Split on commas that are not escaped."""
    terms: list[str] = []
    cur: list[str] = []
    escaped = False
    for c in s:
        if escaped:
            cur.append(c)
            escaped = False
        elif c == "\\":
            cur.append(c)
            escaped = True
        elif c == ",":
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    terms.append("".join(cur))
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The leftmost operator splits; at one position "!=" and "==" win over "="."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(s: str, kind: str | None = None) -> FieldSelector:
    """Parse a field selector; with ``kind``, also refuse fields that kind does not support."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(s)):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
        lhs, op, rhs = split
        lhs = lhs.strip()
        if not lhs:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
        terms.append(FieldTerm(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    sel = FieldSelector(tuple(terms))
    if kind is not None:
        sel.check_supported(kind)
    return sel
