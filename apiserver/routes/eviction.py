"""pods/{name}/eviction: a delete that honours the PodDisruptionBudgets
(pkg/registry/core/pod/storage/eviction.go).

A POST of a policy/v1 (or v1beta1) Eviction. A terminal, Pending or already deleted pod
goes at once; otherwise the one budget whose selector matches the pod is checked and its
``status.disruptionsAllowed`` decremented with a compare-and-swap (the pod named in
``status.disruptedPods`` so that the disruption controller does not count it while it goes)
before the pod is deleted: no budget allows it -> 429 TooManyRequests with the
DisruptionBudget cause; several budgets -> 500. A pod that is not ready is evicted without
touching the budget when the budget is healthy or its unhealthyPodEvictionPolicy is
AlwaysAllow. The Eviction's deleteOptions (grace period, preconditions, dryRun) apply to
the delete; the pod gets the DisruptionTarget condition first.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api import resources
from api.labels import SelectorError, from_label_selector
from api.models.policy import (
    ALWAYS_ALLOW,
    DISRUPTION_ALLOWED_CONDITION,
    DISRUPTION_BUDGET_CAUSE,
    INSUFFICIENT_PODS_REASON,
)
from api.podutil import is_pod_ready
from api.resources import ResourceInfo
from api.timeutil import now
from apiserver import errors
from apiserver.registry import CREATE, DeleteOptions, Registry, collection_prefix
from apiserver.routes.common import decode_object_body, json_response, read_body
from apiserver.routes.verbs import registry_of

JSONDict = dict[str, Any]

EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
MAX_DISRUPTED_POD_SIZE = 2000
VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = ("This pod has more than one PodDisruptionBudget, which the eviction "
                 "subresource does not support.")


def too_many_requests(message: str, retry_after: int, cause: str) -> errors.ApiError:
    """errors.NewTooManyRequests with the DisruptionBudget cause."""
    details: JSONDict = {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE, "message": cause}]}
    if retry_after > 0:
        details["retryAfterSeconds"] = retry_after
    return errors.ApiError(429, "TooManyRequests", message, details)


def _still_processing(pdb_name: str) -> errors.ApiError:
    # createTooManyRequestsError
    return too_many_requests(VIOLATES, 10, f"The disruption budget {pdb_name} is still being "
                                           "processed by the server.")


def _forbidden_pdb(name: str, why: str) -> errors.ApiError:
    return errors.ApiError(403, "Forbidden",
                           f'poddisruptionbudget.policy "{name}" is forbidden: {why}',
                           {"name": name, "group": "policy", "kind": "poddisruptionbudget"})


def _delete_options(raw: Any, query_dry_run: list[str]) -> tuple[DeleteOptions, bool]:
    """The Eviction's deleteOptions with the request's dryRun (propagateDryRun); also
    whether the client set a resourceVersion precondition."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise errors.bad_request("deleteOptions must be an object")
    body_dry = raw.get("dryRun") or []
    if not isinstance(body_dry, list):
        raise errors.bad_request("deleteOptions.dryRun must be a list")
    if body_dry and query_dry_run and body_dry != query_dry_run:
        raise errors.bad_request(f"Non-matching dry-run options in request and content: "
                                 f"[{' '.join(query_dry_run)}] and [{' '.join(body_dry)}]")
    opts = DeleteOptions(dry_run=bool(body_dry or query_dry_run))
    g = raw.get("gracePeriodSeconds")
    if g is not None:
        if not isinstance(g, int) or isinstance(g, bool):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
        opts.grace_period_seconds = g
    if raw.get("propagationPolicy") is not None:
        opts.propagation_policy = str(raw["propagationPolicy"])
    if raw.get("orphanDependents") is not None:
        opts.orphan_dependents = bool(raw["orphanDependents"])
    pre = raw.get("preconditions")
    if isinstance(pre, dict):
        opts.precondition_uid = pre.get("uid") or None
        rv = pre.get("resourceVersion")
        opts.precondition_rv = None if rv in (None, "") else str(rv)
    return opts, opts.precondition_rv is not None


def _can_ignore_pdb(pod: JSONDict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or \
        bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _should_enforce_rv(pod: JSONDict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and \
        not (pod.get("metadata") or {}).get("deletionTimestamp")


def _budgets(reg: Registry, pod: JSONDict) -> list[JSONDict]:
    md = pod.get("metadata") or {}
    info = resources.PODDISRUPTIONBUDGETS
    cache = reg.cache(info)
    if not cache.objects:
        return []
    items, _ = cache.list_objects(None, collection_prefix(info, md.get("namespace")))
    labels = md.get("labels") or {}
    out = []
    for co in items:
        try:
            sel = from_label_selector((co.obj.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if sel.matches(labels):
            out.append(co.obj)
    return out


async def _add_condition_and_delete(reg: Registry, info: ResourceInfo, namespace: str,
                                    name: str, opts: DeleteOptions) -> None:
    """addConditionAndDeletePod: DisruptionTarget on the pod's status, then the delete
    (its resourceVersion precondition moved to the pod our update wrote)."""
    if not opts.dry_run:
        pre_rv = int(opts.precondition_rv) if opts.precondition_rv is not None and \
            opts.precondition_rv.isdigit() else None
        if opts.precondition_rv is not None and pre_rv is None:
            raise errors.bad_request(f'invalid resourceVersion "{opts.precondition_rv}"')

        def mutate(pod: JSONDict) -> JSONDict:
            status = pod.setdefault("status", {})
            conds = list(status.get("conditions") or [])
            cond = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                    "lastTransitionTime": now(), "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting"}
            for i, c in enumerate(conds):
                if c.get("type") == "DisruptionTarget":
                    if c.get("status") == "True":
                        cond["lastTransitionTime"] = c.get("lastTransitionTime")
                    conds[i] = cond
                    break
            else:
                conds.append(cond)
            status["conditions"] = conds
            return pod

        res = await reg.guaranteed_update(info, namespace, name, mutate, pre_rv,
                                          opts.precondition_uid, subresource="status")
        if opts.precondition_rv is not None:
            opts.precondition_rv = str((res.obj.get("metadata") or {}).get("resourceVersion"))
    await reg.delete(info, namespace, name, opts)


def _check_and_decrement(pdb: JSONDict, pod_name: str, dry_run: bool) -> JSONDict:
    md = pdb.get("metadata") or {}
    name = md.get("name") or ""
    status = pdb.setdefault("status", {})
    if int(status.get("observedGeneration") or 0) < int(md.get("generation") or 0):
        raise _still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise _forbidden_pdb(name, "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise _forbidden_pdb(name, "DisruptedPods map too big - too many evictions not "
                                   "confirmed by PDB controller")
    if allowed == 0:
        raise too_many_requests(VIOLATES, 0,
                                f"The disruption budget {name} needs "
                                f"{int(status.get('desiredHealthy') or 0)} healthy pods and "
                                f"has {int(status.get('currentHealthy') or 0)} currently")
    status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        conds = [c for c in status.get("conditions") or []
                 if c.get("type") != DISRUPTION_ALLOWED_CONDITION]
        old = next((c for c in status.get("conditions") or []
                    if c.get("type") == DISRUPTION_ALLOWED_CONDITION), None)
        changed = old is None or old.get("status") != "False"
        conds.append({"type": DISRUPTION_ALLOWED_CONDITION, "status": "False",
                      "observedGeneration": int(status.get("observedGeneration") or 0),
                      "lastTransitionTime": now() if changed else old.get("lastTransitionTime")
                      if old else now(),
                      "reason": INSUFFICIENT_PODS_REASON, "message": ""})
        status["conditions"] = conds
    if not dry_run:
        disrupted = dict(status.get("disruptedPods") or {})
        disrupted[pod_name] = now()
        status["disruptedPods"] = disrupted
    return pdb


async def evict(request: Request, info: ResourceInfo, namespace: str, name: str) -> Response:
    body = decode_object_body(request, await read_body(request))
    api_version = body.get("apiVersion")
    if api_version not in (None, "", *EVICTION_VERSIONS) or \
            body.get("kind") not in (None, "", "Eviction"):
        raise errors.bad_request(f"not a Eviction object: {api_version}, Kind="
                                 f"{body.get('kind')}")
    md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    if (md or {}).get("name") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    opts, client_rv = _delete_options(body.get("deleteOptions"),
                                      request.query_params.getlist("dryRun"))
    reg = registry_of(request)
    a = reg.admission
    if a is not None and a.wants(CREATE, info, "eviction"):
        req = a.request(CREATE, info, namespace, name, "eviction", body, None, opts.dry_run)
        a.admit(req)
        await a.validate(req)

    pod = (await reg.get(info, namespace, name)).obj
    if _can_ignore_pdb(pod):
        if _should_enforce_rv(pod) and not client_rv:
            opts.precondition_rv = str((pod.get("metadata") or {}).get("resourceVersion"))
        await _add_condition_and_delete(reg, info, namespace, name, opts)
        return _success()

    pdbs = _budgets(reg, pod)
    if len(pdbs) > 1:
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": MORE_THAN_ONE, "code": 500}, 500)
    update_delete_options = False
    pdb_name = ""
    if pdbs:
        pdb = pdbs[0]
        pdb_name = (pdb.get("metadata") or {}).get("name") or ""
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        if not is_pod_ready(pod) and (
                spec.get("unhealthyPodEvictionPolicy") == ALWAYS_ALLOW
                or (int(status.get("currentHealthy") or 0)
                    >= int(status.get("desiredHealthy") or 0) > 0)):
            update_delete_options = True
        else:
            await reg.guaranteed_update(
                resources.PODDISRUPTIONBUDGETS, namespace, pdb_name,
                lambda p: _check_and_decrement(p, name, opts.dry_run),
                dry_run=opts.dry_run, subresource="status")
    if update_delete_options and not client_rv:
        opts.precondition_rv = str((pod.get("metadata") or {}).get("resourceVersion"))
    try:
        await _add_condition_and_delete(reg, info, namespace, name, opts)
    except errors.ApiError as e:
        if e.code == 409 and update_delete_options and not client_rv:
            raise _still_processing(pdb_name) from None
        raise
    return _success()


def _success() -> Response:
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Success", "code": 201}, 201)
