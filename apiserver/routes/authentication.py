"""authentication.k8s.io/v1, answered on create and never stored
(pkg/registry/authentication/{tokenreview,selfsubjectreview}):

TokenReview: who ``spec.token`` names, as a request carrying it as its bearer token would
be authenticated (the same authenticators, and their 10 s cache); ``status.authenticated``,
``status.user``, ``status.audiences`` (the requested audiences the API server's own
audiences satisfy; tokens of the file and bootstrap tokens are audience-agnostic), or
``status.error``. SelfSubjectReview: the requester's user (after impersonation):
``kubectl auth whoami``.

Registered in routes/reviews.py's HANDLERS, which serves every create-only kind.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from api import resources, timeutil
from api.resources import ResourceInfo
from apiserver import errors
from apiserver.auth import context
from apiserver.auth.authenticator import RequestAuthenticator, Unauthorized
from apiserver.routes.reviews import HANDLERS

JSONDict = dict[str, Any]
_INVALID_TOKEN = "invalid bearer token"


def api_audiences(config: Any) -> list[str]:
    """--api-audiences, else the first --service-account-issuer (kube-apiserver's
    default), else none."""
    auds = list(getattr(config, "api_audiences", None) or ())
    if not auds:
        auds = list(getattr(config, "service_account_issuers", None) or ())[:1]
    return auds


async def token_review(request: Request, info: ResourceInfo, namespace: str | None,
                       body: JSONDict) -> JSONDict:
    raw = body.get("spec")
    spec: JSONDict = raw if isinstance(raw, dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    wanted = [a for a in (spec.get("audiences") or ()) if isinstance(a, str)]
    implicit = api_audiences(request.app.state.config)
    status: JSONDict = {"user": {}}
    audiences = [a for a in wanted if a in implicit] if wanted else implicit
    if wanted and implicit and not audiences:
        # Audience-agnostic authenticators authenticate only for the server's audiences.
        status["error"] = _INVALID_TOKEN
        return {**body, "status": status}
    authn: RequestAuthenticator = request.app.state.authenticator
    scope = {"type": "http", "scheme": "https",
             "headers": [(b"authorization", b"Bearer " + token.encode("utf-8", "replace"))]}
    try:
        user = await authn.authenticate(scope)
    except Unauthorized as e:
        status["error"] = str(e) or _INVALID_TOKEN
        return {**body, "status": status}
    if user is None:
        status["error"] = _INVALID_TOKEN
        return {**body, "status": status}
    status = {"authenticated": True, "user": user.to_wire()}
    if audiences:
        status["audiences"] = audiences
    return {**body, "status": status}


async def self_subject_review(request: Request, info: ResourceInfo, namespace: str | None,
                              body: JSONDict) -> JSONDict:
    return {"kind": "SelfSubjectReview", "apiVersion": info.api_version,
            "metadata": {"creationTimestamp": timeutil.now()},
            "status": {"userInfo": context.user().to_wire()}}


HANDLERS.update({
    resources.TOKENREVIEWS.plural: token_review,
    resources.SELFSUBJECTREVIEWS.plural: self_subject_review,
})
