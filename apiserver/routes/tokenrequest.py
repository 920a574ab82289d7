"""POST .../serviceaccounts/<name>/token: a TokenRequest (authentication.k8s.io/v1), as
pkg/registry/core/serviceaccount/storage/token.go serves it.

The token is a JWT for the ServiceAccount, for the requested audiences (default: the
API audiences), expiring after expirationSeconds (default 3600, at least 10 minutes,
capped by --service-account-max-token-expiration), optionally bound to a Pod, Secret or
Node (its uid checked): the authenticator refuses it once that object is gone. A token
bound to a pod running on a node also names that node, as Kubernetes' does.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import resources
from api import serviceaccount as sat
from api.models.serviceaccount import TokenRequest
from api.resources import ResourceInfo
from api.validation.serviceaccount import DEFAULT_TOKEN_SECONDS, validate_token_request
from apiserver import errors
from apiserver.admission_plugins.noderestriction import check_token_request
from apiserver.auth import context
from apiserver.auth.node import node_identity
from apiserver.auth.serviceaccount import TokenConfig
from apiserver.routes.common import decode_object_body, json_response, read_body
from apiserver.routes.verbs import registry_of

JSONDict = dict[str, Any]

TOKENREQUESTS = ResourceInfo(kind="TokenRequest", plural="tokenrequests",
                             singular="tokenrequest", group="authentication.k8s.io",
                             version="v1", namespaced=True, model=TokenRequest,
                             list_kind="TokenRequestList")


def _invalid(name: str, causes: list[JSONDict]) -> errors.ApiError:
    summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    return errors.ApiError(422, "Invalid",
                           f'TokenRequest.authentication.k8s.io "{name}" is invalid: {summary}',
                           {"name": name, "group": "authentication.k8s.io",
                            "kind": "TokenRequest", "causes": causes})


def _gvk(ref: JSONDict) -> tuple[str, str, str]:
    api_version = str(ref.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    return group, version, str(ref.get("kind") or "")


def _uid(obj: JSONDict) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _node_restriction(request: Request) -> bool:
    """NodeRestriction is on (it judges the tokens a node asks for)."""
    chain = getattr(request.app.state, "admission", None)
    return any(p.name == "NodeRestriction" for p in getattr(chain, "plugins", ()))


async def create_token(request: Request, namespace: str, name: str) -> Response:
    cfg: TokenConfig | None = getattr(request.app.state, "service_account_tokens", None)
    if cfg is None or cfg.signer is None:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested "
                              "resource (no --service-account-signing-key-file)")
    body = decode_object_body(request, await read_body(request))
    spec = body.get("spec")
    if spec is None:
        spec = body["spec"] = {}
    if isinstance(spec, dict) and spec.get("expirationSeconds") is None:
        spec["expirationSeconds"] = DEFAULT_TOKEN_SECONDS
    errs = validate_token_request(body, cfg.min_expiration)
    if errs:
        raise _invalid(name, [e.to_cause() for e in errs])
    reg = registry_of(request)
    sa = (await reg.get(resources.SERVICEACCOUNTS, namespace, name)).obj
    pod = secret = node = None
    ref = spec.get("boundObjectRef")
    if ref:
        group, version, kind = _gvk(ref)
        ref_name = str(ref.get("name") or "")
        if group == "" and kind == "Pod":
            pod = (await reg.get(resources.PODS, namespace, ref_name)).obj
            pod_sa = (pod.get("spec") or {}).get("serviceAccountName") or ""
            if pod_sa != name:
                raise errors.bad_request(f'cannot bind token for serviceaccount "{name}" to '
                                         f'pod running with serviceaccount "{pod_sa}"')
            bound = pod
        elif group == "" and kind == "Secret":
            secret = bound = (await reg.get(resources.SECRETS, namespace, ref_name)).obj
        elif group == "" and kind == "Node":
            node = bound = (await reg.get(resources.NODES, None, ref_name)).obj
        else:
            raise errors.bad_request(
                f"cannot bind token to object of type {group}/{version}, Kind={kind}")
        if ref.get("uid") and ref["uid"] != _uid(bound):
            raise errors.ApiError(
                409, "Conflict",
                f'Operation cannot be fulfilled on {kind} "{ref_name}": the UID in the bound '
                f"object reference ({ref['uid']}) does not match the UID in record "
                f"({_uid(bound)}). The object might have been deleted and then recreated",
                {"name": ref_name, "kind": kind})
        if pod is not None and (pod.get("spec") or {}).get("nodeName"):
            # The pod's node goes in the token too (ServiceAccountTokenPodNodeInfo).
            try:
                node = (await reg.get(resources.NODES, None,
                                      pod["spec"]["nodeName"])).obj
            except errors.ApiError:
                node = None
    node_name, is_node = node_identity(context.user())
    if is_node and _node_restriction(request):
        why = check_token_request(node_name, pod, ref if isinstance(ref, dict) else None)
        if why:
            raise errors.forbidden(resources.SERVICEACCOUNTS, name, why)
    audiences = [str(a) for a in spec.get("audiences") or []] or list(cfg.api_audiences)
    spec["audiences"] = audiences
    expiration = int(spec["expirationSeconds"])
    if cfg.max_expiration and expiration > cfg.max_expiration:
        expiration = cfg.max_expiration
        spec["expirationSeconds"] = expiration

    def ref_of(obj: JSONDict | None) -> sat.Ref | None:
        if obj is None:
            return None
        return sat.Ref(str(obj["metadata"]["name"]), _uid(obj))

    t = time.time()
    claims = sat.bound_claims(namespace, sat.Ref(name, _uid(sa)), audiences, expiration,
                              pod=ref_of(pod), secret=ref_of(secret), node=ref_of(node),
                              now=t)
    token = cfg.signer.sign(claims)
    md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {**(md or {}), "name": name, "namespace": namespace,
                        "creationTimestamp": None},
           "spec": spec,
           "status": {"token": token, "expirationTimestamp": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(claims["exp"])))}}
    return json_response(orjson.dumps(out), 201)
