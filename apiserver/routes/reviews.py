"""Kinds answered on create and never stored (pkg/registry/authorization/*/rest.go):
SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview (the authorizer's
decision for the attributes in spec, for the user in spec or the requester) and
SelfSubjectRulesReview (the requester's rules in a namespace, from every authorization
mode that can list them).

A kind whose only verb is "create" gets no watch cache; ``dispatch`` in
routes/resources.py sends its requests here, to the handler registered for its plural in
``HANDLERS`` (other create-only kinds register theirs the same way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import resources
from api.resources import ResourceInfo
from apiserver import errors
from apiserver.auth import context
from apiserver.auth.attributes import Attributes
from apiserver.auth.authorizer import Decision
from apiserver.auth.rbac import index_for
from apiserver.auth.user import UserInfo
from apiserver.routes.common import decode_object_body, json_response, read_body

JSONDict = dict[str, Any]
Handler = Callable[[Request, ResourceInfo, str | None, JSONDict], Awaitable[JSONDict]]
HANDLERS: dict[str, Handler] = {}


async def dispatch(request: Request, info: ResourceInfo, namespace: str | None,
                   name: str | None) -> Response:
    handler = HANDLERS.get(info.plural)
    if handler is None or name is not None:
        raise errors.path_not_found(request.url.path)
    if request.method != "POST":
        raise errors.method_not_allowed(request.method)
    body = decode_object_body(request, await read_body(request))
    md = body.get("metadata")
    if md is None:
        md = body["metadata"] = {}
    if isinstance(md, dict) and info.namespaced:
        if md.get("namespace") and namespace and md["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match "
                                     "the namespace sent on the request")
        if namespace and not md.get("namespace"):
            md["namespace"] = namespace
    body.setdefault("apiVersion", info.api_version)
    body.setdefault("kind", info.kind)
    out = await handler(request, info, namespace, body)
    return json_response(orjson.dumps(out), 201)


def _invalid(info: ResourceInfo, causes: list[tuple[str, Any, str]]) -> errors.ApiError:
    from api.validation.field import invalid

    return errors.invalid(info, None, [invalid(f, v, m).to_cause() for f, v, m in causes])


def _spec(body: JSONDict) -> JSONDict:
    spec = body.get("spec")
    return spec if isinstance(spec, dict) else {}


def _attrs_spec_causes(spec: JSONDict) -> list[tuple[str, Any, str]]:
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra is not None and nra is not None:
        return [("spec.nonResourceAttributes", nra,
                 "cannot be specified in combination with resourceAttributes")]
    if ra is None and nra is None:
        return [("spec.resourceAttributes", nra,
                 "exactly one of nonResourceAttributes or resourceAttributes must be "
                 "specified")]
    return []


def _meta_causes(body: JSONDict, keep_namespace: bool) -> list[tuple[str, Any, str]]:
    md = {k: v for k, v in (body.get("metadata") or {}).items()
          if v not in (None, "", {}, []) and k != "managedFields"
          and not (keep_namespace and k == "namespace")}
    if md:
        return [("metadata", md, "must be empty except for namespace" if keep_namespace
                 else "must be empty")]
    return []


def _str(d: Any, k: str) -> str:
    v = d.get(k) if isinstance(d, dict) else None
    return v if isinstance(v, str) else ""


def attributes_from(user: UserInfo, spec: JSONDict) -> Attributes:
    """ResourceAttributesFrom / NonResourceAttributesFrom."""
    ra = spec.get("resourceAttributes")
    if isinstance(ra, dict):
        return Attributes(user, _str(ra, "verb"), True, namespace=_str(ra, "namespace"),
                          api_group=_str(ra, "group"), api_version=_str(ra, "version"),
                          resource=_str(ra, "resource"), subresource=_str(ra, "subresource"),
                          name=_str(ra, "name"))
    nra = spec.get("nonResourceAttributes")
    return Attributes(user, _str(nra, "verb"), False, path=_str(nra, "path"))


def _decide(request: Request, attrs: Attributes) -> JSONDict:
    decision, reason = request.app.state.authorizer.authorize(attrs)
    status: JSONDict = {"allowed": decision is Decision.ALLOW}
    if decision is Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def _spec_user(spec: JSONDict) -> UserInfo:
    groups = tuple(g for g in spec.get("groups") or () if isinstance(g, str))
    extra = spec.get("extra") if isinstance(spec.get("extra"), dict) else {}
    return UserInfo(_str(spec, "user"), _str(spec, "uid"), groups,
                    {k: tuple(v) for k, v in (extra or {}).items() if isinstance(v, list)})


async def subject_access_review(request: Request, info: ResourceInfo, namespace: str | None,
                                body: JSONDict) -> JSONDict:
    spec = _spec(body)
    causes = _attrs_spec_causes(spec)
    if not spec.get("user") and not spec.get("groups"):
        causes.append(("spec.user", _str(spec, "user"),
                       "at least one of user or group must be specified"))
    causes += _meta_causes(body, keep_namespace=False)
    if causes:
        raise _invalid(info, causes)
    return {**body, "status": _decide(request, attributes_from(_spec_user(spec), spec))}


async def local_subject_access_review(request: Request, info: ResourceInfo,
                                      namespace: str | None, body: JSONDict) -> JSONDict:
    spec = _spec(body)
    ns = _str(body.get("metadata"), "namespace")
    causes = _attrs_spec_causes(spec)
    if not spec.get("user") and not spec.get("groups"):
        causes.append(("spec.user", _str(spec, "user"),
                       "at least one of user or group must be specified"))
    causes += _meta_causes(body, keep_namespace=True)
    ra = spec.get("resourceAttributes")
    if isinstance(ra, dict) and _str(ra, "namespace") != ns:
        causes.append(("spec.resourceAttributes.namespace", _str(ra, "namespace"),
                       "must match metadata.namespace"))
    if spec.get("nonResourceAttributes") is not None:
        causes.append(("spec.nonResourceAttributes", spec["nonResourceAttributes"],
                       "disallowed on this kind of request"))
    if causes:
        raise _invalid(info, causes)
    if not namespace:
        raise errors.bad_request(f"namespace is required on this type: {namespace or ''}")
    return {**body, "status": _decide(request, attributes_from(_spec_user(spec), spec))}


async def self_subject_access_review(request: Request, info: ResourceInfo,
                                     namespace: str | None, body: JSONDict) -> JSONDict:
    spec = _spec(body)
    causes = _attrs_spec_causes(spec)
    if causes:
        raise _invalid(info, causes)
    return {**body, "status": _decide(request, attributes_from(context.user(), spec))}


_STAR_RESOURCE: JSONDict = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
_STAR_URL: JSONDict = {"verbs": ["*"], "nonResourceURLs": ["*"]}


def rules_for(state: Any, user: UserInfo, namespace: str
              ) -> tuple[list[JSONDict], list[JSONDict], bool, list[str]]:
    """The union's RulesFor: resource rules, non-resource rules, incomplete, errors."""
    res: list[JSONDict] = []
    urls: list[JSONDict] = []
    incomplete = False
    errs: list[str] = []
    for mode in getattr(state.config, "authorization_modes", ()) or ():
        if mode == "AlwaysAllow":
            res.append(_STAR_RESOURCE)
            urls.append(_STAR_URL)
        elif mode == "RBAC":
            rules, rerrs = index_for(state).rules_for(user, namespace)
            errs += rerrs
            for r in rules:
                wire = {k: sorted(v) if isinstance(v, frozenset) else list(v)
                        for k, v in r.items()}
                wire.setdefault("verbs", [])
                if r.get("nonResourceURLs"):
                    urls.append({"verbs": wire["verbs"],
                                 "nonResourceURLs": wire["nonResourceURLs"]})
                else:
                    res.append({k: wire[k] for k in ("verbs", "apiGroups", "resources",
                                                     "resourceNames") if k in wire})
        elif mode != "AlwaysDeny":
            incomplete = True  # Node, Webhook...: rules they cannot list
    return res, urls, incomplete, errs


async def self_subject_rules_review(request: Request, info: ResourceInfo,
                                    namespace: str | None, body: JSONDict) -> JSONDict:
    ns = _str(_spec(body), "namespace")
    if not ns:
        raise errors.bad_request("no namespace on request")
    res, urls, incomplete, errs = rules_for(request.app.state, context.user(), ns)
    status: JSONDict = {"resourceRules": res, "nonResourceRules": urls,
                        "incomplete": incomplete}
    if errs:
        status["evaluationError"] = "[" + ", ".join(errs) + "]" if len(errs) > 1 else errs[0]
    return {**body, "status": status}


HANDLERS.update({
    resources.SUBJECTACCESSREVIEWS.plural: subject_access_review,
    resources.LOCALSUBJECTACCESSREVIEWS.plural: local_subject_access_review,
    resources.SELFSUBJECTACCESSREVIEWS.plural: self_subject_access_review,
    resources.SELFSUBJECTRULESREVIEWS.plural: self_subject_rules_review,
})
