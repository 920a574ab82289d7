"""authentication.k8s.io/v1 (k8s.io/api/authentication/v1): TokenReview (who does this
bearer token name) and SelfSubjectReview (who am I), asked by a create and answered in
status, never stored."""

from __future__ import annotations

from pydantic import Field

from api.base import Model
from api.models.core import TypedObject

GROUP = "authentication.k8s.io"


class UserInfo(Model):
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class TokenReviewSpec(Model):
    token: str | None = None
    audiences: list[str] | None = None


class TokenReviewStatus(Model):
    authenticated: bool | None = None
    user: UserInfo | None = None
    audiences: list[str] | None = None
    error: str | None = None


class TokenReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "TokenReview"
    spec: TokenReviewSpec = Field(default_factory=TokenReviewSpec)
    status: TokenReviewStatus | None = None


class SelfSubjectReviewStatus(Model):
    user_info: UserInfo | None = None


class SelfSubjectReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "SelfSubjectReview"
    status: SelfSubjectReviewStatus | None = None
