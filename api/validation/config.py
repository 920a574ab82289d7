"""ConfigMaps and Secrets: keys, sizes, base64 data and the well-known Secret types.

ValidateConfigMap and ValidateSecret (the keys each well-known ``type`` needs) from
pkg/apis/core/validation/validation.go; ``decode_bytes`` reads a Go ``[]byte`` JSON
value as encoding/json does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from api.names import is_config_map_key
from api.validation.field import (
    JSON,
    TOO_LONG,
    Errs,
    FieldError,
    as_dict,
    as_str,
    at_key,
    invalid,
    required,
)

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, also the limit of a ConfigMap


def _too_big(path: str) -> FieldError:
    return FieldError(path, TOO_LONG, f"must have at most {MAX_SECRET_SIZE} bytes")


def decode_bytes(value: str) -> bytes | None:
    """A Go ``[]byte`` JSON value: standard base64, padded; None when it is not."""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _data_map(errs: Errs, value: Any, path: str, *, as_bytes: bool) -> dict[str, int]:
    """Checks the keys (and base64 values) of a data map; key -> value size in bytes."""
    sizes: dict[str, int] = {}
    for k, v in as_dict(errs, value, path).items():
        kp = at_key(path, str(k))
        for m in is_config_map_key(str(k)):
            errs.append(invalid(kp, k, m))
        if not isinstance(v, str):
            errs.append(invalid(kp, v, "must be a string"))
            continue
        if as_bytes:
            raw = decode_bytes(v)
            if raw is None:
                errs.append(invalid(kp, "<value omitted>", "illegal base64 data"))
                continue
            sizes[str(k)] = len(raw)
        else:
            sizes[str(k)] = len(v.encode())
    return sizes


def validate_configmap(obj: JSON) -> Errs:
    errs: Errs = []
    data = _data_map(errs, obj.get("data"), "data", as_bytes=False)
    binary = _data_map(errs, obj.get("binaryData"), "binaryData", as_bytes=True)
    for k in data:
        if k in binary:
            errs.append(invalid(at_key("data", k), k, "duplicate of key present in binaryData"))
    if sum(data.values()) + sum(binary.values()) > MAX_SECRET_SIZE:
        errs.append(_too_big(""))
    return errs


def validate_secret(obj: JSON) -> Errs:
    errs: Errs = []
    data = _data_map(errs, obj.get("data"), "data", as_bytes=True)
    if sum(data.values()) > MAX_SECRET_SIZE:
        errs.append(_too_big("data"))
    typ = as_str(errs, obj.get("type"), "type")
    given = obj.get("data")
    raw: JSON = given if isinstance(given, Mapping) else {}
    # The keys the well-known types need (ValidateSecret); other types are free-form.
    if typ == "kubernetes.io/service-account-token":
        # The name only: the uid and the token are the tokens controller's to add.
        md = obj.get("metadata")
        ann = md.get("annotations") if isinstance(md, Mapping) else None
        if not (ann.get("kubernetes.io/service-account.name")
                if isinstance(ann, Mapping) else None):
            errs.append(required(at_key("metadata.annotations",
                                        "kubernetes.io/service-account.name")))
    elif typ == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in raw:
                errs.append(required(at_key("data", k)))
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in raw and "password" not in raw:
            errs += [required(at_key("data", "username")), required(at_key("data", "password"))]
    elif typ == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(at_key("data", "ssh-privatekey")))
    elif typ in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"):
        k = ".dockerconfigjson" if typ.endswith("json") else ".dockercfg"
        v = raw.get(k)
        if v is None or data.get(k) == 0:
            errs.append(required(at_key("data", k)))
        else:
            try:
                json.loads(decode_bytes(str(v)) or b"")
            except ValueError as e:
                errs.append(invalid(at_key("data", k), "<secret contents redacted>", str(e)))
    return errs
