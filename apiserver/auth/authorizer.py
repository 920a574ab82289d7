"""Authorizers (staging/src/k8s.io/apiserver/pkg/authorization): each answers Allow, Deny
or NoOpinion for a request's Attributes; the union (``--authorization-mode``, in order)
takes the first Allow or Deny. A request nobody allows is 403 with Kubernetes' message.

Authorizers are synchronous: they read in-memory state (the watch caches), so they cost
no I/O on the request path. Modes register a factory in ``MODES`` (name -> factory of
the app state), so the union is built from the flag without naming each mode here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from apiserver.auth.attributes import Attributes


class Decision(enum.Enum):
    DENY = 0
    ALLOW = 1
    NO_OPINION = 2


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        """The decision and, for a denial, the reason (appended to the 403 message)."""
        ...


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."


class Union:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons = []
        for a in self.authorizers:
            decision, reason = a.authorize(attrs)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)


# --authorization-mode names -> factory(app state) -> Authorizer. Modes defined elsewhere
# (Node, RBAC) add themselves with ``register_mode`` when their module is imported.
MODES: dict[str, Callable[[Any], Authorizer]] = {
    "AlwaysAllow": lambda state: AlwaysAllow(),
    "AlwaysDeny": lambda state: AlwaysDeny(),
}


def register_mode(name: str, factory: Callable[[Any], Authorizer]) -> None:
    MODES[name] = factory


def build(modes: Sequence[str], state: Any) -> Authorizer:
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown authorization mode(s) {unknown}; known: {sorted(MODES)}")
    built = [MODES[m](state) for m in modes]
    return built[0] if len(built) == 1 else Union(built)


def forbidden_message(attrs: Attributes) -> str:
    """forbiddenMessage (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters
    /errors.go)."""
    username = attrs.user.name
    if not attrs.resource_request:
        return f'User "{username}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if attrs.namespace:
        return (f'User "{username}" cannot {attrs.verb} resource "{resource}" in API group '
                f'"{attrs.api_group}" in the namespace "{attrs.namespace}"')
    return (f'User "{username}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}" at the cluster scope')


def forbidden_status(attrs: Attributes, reason: str = "") -> dict[str, Any]:
    """The 403 Status body: apierrors.NewForbidden(groupResource, name, message[: reason])."""
    msg = forbidden_message(attrs)
    if reason:
        msg = f"{msg}: {reason}"
    details: dict[str, Any] = {}
    if not attrs.resource_request:
        message = f"forbidden: {msg}"
    else:
        gr = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
        message = f'{gr} "{attrs.name}" is forbidden: {msg}' if attrs.name \
            else f"{gr} is forbidden: {msg}"
        # StatusDetails' field order: name, group, kind.
        if attrs.name:
            details["name"] = attrs.name
        if attrs.api_group:
            details["group"] = attrs.api_group
        details["kind"] = attrs.resource
    # Status' field order: ..., reason, details, code.
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": "Forbidden"}
    if details:
        body["details"] = details
    body["code"] = 403
    return body
