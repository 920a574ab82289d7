"""Structural schemas for custom resources: validation, defaulting, pruning and CEL.

Kubernetes' apiextensions-apiserver/pkg/apiserver/schema and the CRD schema rules of
pkg/apis/apiextensions/validation. Pure: imports only api and maintained libraries.

    validate_crd_schema(schema, path) -> list[FieldError]   # at CRD create/update
    s = Structural.compile(schema)                           # once per CRD version
    s.default(obj); s.prune(obj) -> paths; s.validate(obj, old) -> list[FieldError]
    s.list_type(path) / s.map_type(path)                     # for server-side apply
"""

from api.structural.compiled import Structural
from api.structural.crd import validate_crd_schema

__all__ = ["Structural", "validate_crd_schema"]
