"""ServiceAccount (core/v1) and TokenRequest (authentication.k8s.io/v1, the
``serviceaccounts/token`` subresource), as k8s.io/api defines them."""

from __future__ import annotations

from api.base import Model
from api.models.core import ObjectReference, TypedObject


class LocalObjectReference(Model):
    name: str | None = None


class ServiceAccount(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "ServiceAccount"
    secrets: list[ObjectReference] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    automount_service_account_token: bool | None = None


class BoundObjectReference(Model):
    kind: str | None = None
    api_version: str | None = None
    name: str | None = None
    uid: str | None = None


class TokenRequestSpec(Model):
    audiences: list[str] | None = None
    expiration_seconds: int | None = None
    bound_object_ref: BoundObjectReference | None = None


class TokenRequestStatus(Model):
    token: str | None = None
    expiration_timestamp: str | None = None


class TokenRequest(TypedObject):
    api_version: str | None = "authentication.k8s.io/v1"
    kind: str | None = "TokenRequest"
    spec: TokenRequestSpec | None = None
    status: TokenRequestStatus | None = None
