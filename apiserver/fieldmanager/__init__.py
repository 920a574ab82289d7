"""Server-side apply and managedFields (kube-apiserver's field manager over a port of
sigs.k8s.io/structured-merge-diff), and fieldValidation's unknown-field checks.

``context(info)`` gives the per-kind Context the manager functions take; custom kinds
register their schema's list/map types with ``schema.register``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import orjson

from api.resources import ResourceInfo
from apiserver import errors, warning
from apiserver.fieldmanager import manager, schema, typed, validation
from apiserver.fieldmanager import manager as manager_mod
from apiserver.fieldmanager.manager import Conflicts, Context

__all__ = ["Conflicts", "Context", "apply_object", "check_body", "context", "manager",
           "manager_name", "report", "schema", "track", "validation"]

_TEMPLATE: dict[str, Any] = {"metadata": {}, "spec": {"containers": None}}

# The zero object a create is compared with: the non-pointer structs (and lists without
# omitempty) Go serializes for an empty object of the kind, so a create owns the
# fields inside them and not the structs themselves, as Kubernetes records.
_ZERO_SPEC: dict[str, dict[str, Any]] = {
    "Pod": {"spec": {"containers": None}},
    "PodTemplate": {"template": _TEMPLATE},
    "Deployment": {"spec": {"template": _TEMPLATE, "strategy": {}}},
    "ReplicaSet": {"spec": {"template": _TEMPLATE}},
    "StatefulSet": {"spec": {"template": _TEMPLATE, "updateStrategy": {}}},
    "DaemonSet": {"spec": {"template": _TEMPLATE, "updateStrategy": {}}},
    "Job": {"spec": {"template": _TEMPLATE}},
    "CronJob": {"spec": {"jobTemplate": {"metadata": {}, "spec": {"template": _TEMPLATE}}}},
    "Service": {"status": {"loadBalancer": {}}},
    "Node": {"status": {"daemonEndpoints": {"kubeletEndpoint": {}}, "nodeInfo": {}}},
    "Role": {"rules": None},
    "ClusterRole": {"rules": None},
    "RoleBinding": {"roleRef": {}},
    "ClusterRoleBinding": {"roleRef": {}},
}

_contexts: dict[tuple[str, str, str], tuple[schema.Type, Context]] = {}


def _zero(info: ResourceInfo, root: schema.Type) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {}}
    declared = root.declared or {}
    for k in ("spec", "status"):
        if k in declared:
            out[k] = {}
    extra = _ZERO_SPEC.get(info.kind) if schema.is_builtin(info) else None
    for k, v in (extra or {}).items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


class StrategyLike(Protocol):
    """What the field manager reads of a kind's strategy: whether status is a
    subresource, and (custom resources) ``field_schema()``: the compiled schema of the
    request's version, with ``list_type`` / ``map_type`` / ``prune``."""

    status_subresource: ClassVar[bool]


def _custom_schema(info: ResourceInfo, strategy: StrategyLike) -> Any:
    if schema.builtin_group(info.group):
        return None
    fn = getattr(strategy, "field_schema", None) or getattr(strategy, "_schema", None)
    got = fn() if callable(fn) else None
    return got if hasattr(got, "list_type") and hasattr(got, "map_type") else None


def context(info: ResourceInfo, strategy: StrategyLike) -> Context:
    key = (info.group, info.version, info.kind)
    root = schema.root_type(info, _custom_schema(info, strategy))
    status_subresource = strategy.status_subresource
    got = _contexts.get(key)
    if got is not None and got[0] is root and got[1].status_subresource == status_subresource:
        return got[1]
    ctx = Context(root, info.api_version, status_subresource, _zero(info, root))
    _contexts[key] = (root, ctx)
    return ctx


def track(info: ResourceInfo, strategy: StrategyLike, live: dict[str, Any] | None,
          new: dict[str, Any], manager: str | None, subresource: str | None = None) -> None:
    """Record in new's managedFields that ``manager`` created (``live`` None) or updated
    the object; no manager (a write of the server's own): managedFields as they are."""
    if manager is None:
        return
    manager_mod.update(context(info, strategy), live, new, manager,
                       subresource or "")


def _gvk(info: ResourceInfo) -> str:
    return f"{info.group}/{info.version}, Kind={info.kind}"


def apply_object(info: ResourceInfo, strategy: StrategyLike, live: dict[str, Any] | None,
                 config: dict[str, Any], manager: str, force: bool,
                 subresource: str | None = None) -> dict[str, Any]:
    """Server-side apply of ``config`` by ``manager`` over ``live`` (None: apply on create),
    with Kubernetes' errors: 400 for a configuration of another kind, with
    managedFields or with fields the kind does not declare; 409 for conflicts."""
    api_version, kind = config.get("apiVersion"), config.get("kind")
    group, _, version = str(api_version or "").rpartition("/")
    # The group and kind must be the endpoint's (a served version converts outside).
    if not version or group != info.group or kind != info.kind:
        raise errors.bad_request(f"invalid object type: {group}/{version}, Kind={kind or ''}")
    md = config.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise errors.bad_request("metadata must be an object")
    if md and md.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    ctx = context(info, strategy)
    where = f"{(md or {}).get('namespace') or ''}/{(md or {}).get('name') or ''}; {_gvk(info)}"
    unknown = validation.unknown_fields(config, ctx.root, keyed=True)
    custom = _custom_schema(info, strategy)
    if not unknown and custom is not None and hasattr(custom, "prune"):
        unknown = ["." + str(p).lstrip(".") for p in
                   custom.prune(orjson.loads(orjson.dumps(config)))]
    if unknown:
        raise errors.bad_request(f"failed to create typed patch object ({where}): "
                                 f"{unknown[0]}: field not declared in schema")
    try:
        return manager_mod.apply(ctx, live, config, manager, force, subresource or "")
    except Conflicts as c:
        raise errors.ApiError(409, "Conflict", c.message(), {"causes": c.causes()}) from None
    except typed.TypedError as e:
        raise errors.bad_request(f"failed to create typed patch object ({where}): {e}") from None
    except RecursionError:
        raise errors.bad_request(f"failed to create typed patch object ({where}): the "
                                 f"object is nested too deeply") from None


def manager_name(param: str | None, user_agent: str) -> str:
    """managerOrUserAgent, with the checks of ValidateFieldManager (422 as Kubernetes)."""
    if param:
        if len(param.encode()) > manager_mod.FIELD_MANAGER_MAX_LENGTH:
            raise _invalid_manager(param, "Too long: may not be more than 128 bytes")
        if not param.isprintable():
            raise _invalid_manager(param, f'Invalid value: "{param}": must only contain '
                                          f"printable characters")
        return param
    return manager_mod.manager_from_user_agent(user_agent)


def _invalid_manager(value: str, message: str) -> errors.ApiError:
    return errors.ApiError(422, "Invalid", f"fieldManager: {message}", {"causes": [
        {"reason": "FieldValueInvalid", "message": message, "field": "fieldManager"}]})


def check_body(info: ResourceInfo, strategy: StrategyLike, body: dict[str, Any],
               raw: bytes | None, mode: str, *, decoding: bool = True) -> None:
    """fieldValidation of a create/update body (or a merge patch, ``decoding`` False):
    Strict -> 400 naming the unknown and duplicate fields, Warn -> a Warning header
    each, Ignore -> nothing. Built-in kinds by their declared fields; custom resources
    by what their schema prunes."""
    if mode == validation.IGNORE:
        return
    if schema.is_builtin(info):
        unknown = validation.unknown_fields(body, schema.root_type(info))
    else:
        custom = _custom_schema(info, strategy)
        if custom is None or not hasattr(custom, "prune"):
            return
        unknown = [str(p).lstrip(".") for p in
                   custom.prune(orjson.loads(orjson.dumps(body)))]
    dups = validation.duplicate_fields(raw) if raw is not None else []
    report(info, validation.messages(unknown, dups), mode, decoding=decoding)


def report(info: ResourceInfo, msgs: list[str], mode: str, *, decoding: bool = True) -> None:
    """What fieldValidation ``mode`` does with strict decoding's ``msgs``."""
    if not msgs or mode == validation.IGNORE:
        return
    if mode == validation.STRICT:
        text = "strict decoding error: " + ", ".join(msgs)
        if decoding:
            text = (f'{info.kind} in version "{info.version}" cannot be handled as a '
                    f"{info.kind}: {text}")
        raise errors.bad_request(text)
    for m in msgs:
        warning.add_warning(m)
