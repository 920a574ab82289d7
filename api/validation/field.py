"""Field errors and the small helpers every validation module shares.

Kubernetes keeps these in k8s.io/apimachinery/pkg/util/validation/field: ``ErrorType``
and ``Error`` (errors.go: ``Required``, ``Invalid``, ``NotSupported``...; ``ErrorBody``
prints a bad value as Go's ``%#v`` would) and ``Path`` (path.go: ``Child``, ``Index``,
``Key``), here as plain strings. The ``as_*`` readers are what Go gets from its types
for free: a wire dict may hold anything, so a value of the wrong type becomes a field
error and reads as empty, and validation never raises on odd input.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Kubernetes' field.ErrorType values, as they appear in Status causes.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
TOO_LONG = "FieldValueTooLong"
FORBIDDEN = "FieldValueForbidden"
NOT_FOUND = "FieldValueNotFound"
TOO_MANY = "FieldValueTooMany"
TYPE_INVALID = "FieldValueTypeInvalid"

_TYPE_TEXT = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    TOO_LONG: "Too long",
    FORBIDDEN: "Forbidden",
    NOT_FOUND: "Not found",
    TOO_MANY: "Too many",
    TYPE_INVALID: "Invalid value",
}

_NO_VALUE = object()


def _show(value: Any) -> str:
    """A bad value as Kubernetes prints it: strings quoted, numbers and bools bare."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class FieldError:
    """One field problem: ``field`` is the path (``spec.containers[0].image``),
    ``type`` the reason (``FieldValueRequired``...), ``message`` the detail."""

    field: str
    type: str
    message: str = ""
    value: Any = dataclasses.field(default=_NO_VALUE, compare=False)

    @property
    def reason(self) -> str:
        return self.type

    def body(self) -> str:
        """Kubernetes' ErrorBody: ``Invalid value: "x": detail``, ``Required value``..."""
        text = _TYPE_TEXT.get(self.type, self.type)
        if self.type in (REQUIRED, FORBIDDEN, TOO_LONG) or self.value is _NO_VALUE:
            s = text
        else:
            s = f"{text}: {_show(self.value)}"
        if self.message:
            s += f": {self.message}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def to_cause(self) -> dict[str, str]:
        """The StatusCause: reason = type, message = body, field = path."""
        return {"reason": self.type, "message": self.body(), "field": self.field}


def invalid_message(group_kind: str, name: str, errors: list[FieldError]) -> str:
    """The Status message for 422 Invalid (``Deployment.apps "web" is invalid: ...``)."""
    texts: list[str] = []
    for e in errors:
        t = str(e)
        if t not in texts:
            texts.append(t)
    if not texts:
        return f'{group_kind} "{name}" is invalid'
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return f'{group_kind} "{name}" is invalid: {joined}'


# ---- paths (field.Path) -------------------------------------------------------


def child(path: str, *names: str) -> str:
    for n in names:
        path = f"{path}.{n}" if path else n
    return path


def at_index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def at_key(path: str, k: str) -> str:
    return f"{path}[{k}]"


# ---- errors (field.Required, field.Invalid, ...) -----------------------------


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, INVALID, detail, value)


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    return FieldError(
        path, NOT_SUPPORTED, "supported values: " + ", ".join(json.dumps(v) for v in valid), value
    )


def duplicate(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(path, DUPLICATE, detail, value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, FORBIDDEN, detail)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, NOT_FOUND, "", value)


def too_long(path: str, max_bytes: int) -> FieldError:
    return FieldError(path, TOO_LONG, f"may not be more than {max_bytes} bytes")


# ---- reading wire values ------------------------------------------------------

Errs = list[FieldError]
JSON = Mapping[str, Any]
NON_NEGATIVE = "must be greater than or equal to 0"
INT32_MAX = 2**31 - 1


def as_dict(errs: Errs, value: Any, path: str) -> JSON:
    """``value`` as a mapping (None -> {}); anything else is an error and {}."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    errs.append(invalid(path, value, "must be an object"))
    return {}


def as_list(errs: Errs, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    errs.append(invalid(path, value, "must be a list"))
    return []


def as_str(errs: Errs, value: Any, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    errs.append(invalid(path, value, "must be a string"))
    return ""


def as_int(errs: Errs, value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    errs.append(invalid(path, value, "must be an integer"))
    return None


def non_negative(errs: Errs, value: Any, path: str) -> None:
    n = as_int(errs, value, path)
    if n is not None and n < 0:
        errs.append(invalid(path, n, NON_NEGATIVE))


def one_of(errs: Errs, value: Any, path: str, allowed: list[str]) -> None:
    """Unset is fine (defaulting fills it); set must be one of ``allowed``."""
    if value is None:
        return
    if value not in allowed:
        errs.append(not_supported(path, value, allowed))
