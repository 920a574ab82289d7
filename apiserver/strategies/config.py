"""ConfigMaps and Secrets (pkg/registry/core/{configmap,secret}/strategy.go): no
status; a Secret's write-only stringData is merged into data before anything else
sees it."""

from __future__ import annotations

import base64
from datetime import datetime

from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


def merge_string_data(secret: JSONDict) -> None:
    """A Secret's write-only stringData goes into data (base64), overwriting, and is
    dropped, as the v1 -> internal conversion does. A malformed one stays for
    validation to name."""
    sd = secret.get("stringData")
    if sd is None:
        secret.pop("stringData", None)
        return
    if not isinstance(sd, dict) or not all(isinstance(v, str) for v in sd.values()):
        return
    data = secret.get("data")
    if data is not None and not isinstance(data, dict):
        return
    merged = dict(data or {})
    for k, v in sd.items():
        merged[k] = base64.b64encode(v.encode()).decode()
    secret.pop("stringData")
    if merged:
        secret["data"] = merged


class ConfigMapStrategy(Strategy):
    columns = [NAME, column("Data", "integer", description="Number of data keys."), AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        n = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        return [name_of(obj), n, age_of(obj, now)], []


class SecretStrategy(Strategy):
    columns = [NAME, column("Type", description="The type of the secret."),
               column("Data", "integer", description="Number of data keys."), AGE]

    def canonicalize(self, obj: JSONDict) -> None:
        merge_string_data(obj)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), obj.get("type") or "", len(obj.get("data") or {}),
                age_of(obj, now)], []
