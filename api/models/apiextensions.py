"""apiextensions.k8s.io/v1: CustomResourceDefinition.

The spec is kept as the wire dict (names, versions with their openAPIV3Schema,
subresources, printer columns, conversion): api/validation/apiextensions.py checks it
with Kubernetes' paths and messages, which a typed model would only pre-empt with
less precise ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.core import TypedObject


class CustomResourceDefinition(TypedObject):
    api_version: str | None = "apiextensions.k8s.io/v1"
    kind: str | None = "CustomResourceDefinition"
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None


class CustomResource(TypedObject):
    """An object of a kind some CustomResourceDefinition defines (its schema checks it)."""
