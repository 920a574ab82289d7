"""LimitRanger admission (plugin/pkg/admission/limitranger): on pod create, containers
get the default limits and requests of their namespace's LimitRanges (type Container:
``default`` and ``defaultRequest``), noted in the ``kubernetes.io/limit-ranger``
annotation; then min, max and maxLimitRequestRatio are enforced per Container and per
Pod, a violation a 403 in Kubernetes' words (``maximum cpu usage per Container is 500m,
but limit is 1``)."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from api import resources as api_resources
from api.podutil import pod_limits, pod_requests
from api.quantity import QuantityError, canonical, format_quantity, parse_quantity
from apiserver.admission_plugins import CREATE, AdmissionRequest, Plugin, register_plugin
from apiserver.registry import Registry, collection_prefix

JSONDict = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"


def _q(v: Any) -> Fraction | None:
    try:
        return parse_quantity(v)
    except (QuantityError, TypeError, ValueError):
        return None


def _s(v: Any) -> str:
    try:
        return canonical(v)
    except (QuantityError, TypeError, ValueError):
        return str(v)


def _merge(container: JSONDict, requests: Mapping[str, Any], limits: Mapping[str, Any],
           prefix: str, notes: list[str]) -> None:
    """mergeContainerResources: what the container does not set, from the defaults."""
    res = container.setdefault("resources", {})
    if not isinstance(res, dict):
        return
    lim: dict[str, Any] = res["limits"] if isinstance(res.get("limits"), dict) else {}
    req: dict[str, Any] = res["requests"] if isinstance(res.get("requests"), dict) else {}
    set_limits = sorted(k for k in limits if k not in lim)
    set_requests = sorted(k for k in requests if k not in req)
    if set_limits:
        res["limits"] = {**lim, **{k: limits[k] for k in set_limits}}
    if set_requests:
        res["requests"] = {**req, **{k: requests[k] for k in set_requests}}
    name = container.get("name")
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {prefix} {name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {prefix} {name}")


def _min(kind: str, res: str, enforced: Any, req: Mapping[str, Any],
         lim: Mapping[str, Any]) -> str | None:
    e = _q(enforced)
    if e is None:
        return None
    if res not in req:
        return f"minimum {res} usage per {kind} is {_s(enforced)}.  No request is specified"
    r, ll = _q(req[res]), _q(lim.get(res))
    if r is not None and r < e:
        return f"minimum {res} usage per {kind} is {_s(enforced)}, but request is {_s(req[res])}"
    if res in lim and ll is not None and ll < e:
        return f"minimum {res} usage per {kind} is {_s(enforced)}, but limit is {_s(lim[res])}"
    return None


def _max(kind: str, res: str, enforced: Any, req: Mapping[str, Any],
         lim: Mapping[str, Any]) -> str | None:
    e = _q(enforced)
    if e is None:
        return None
    if res not in lim:
        return f"maximum {res} usage per {kind} is {_s(enforced)}.  No limit is specified"
    r, ll = _q(req.get(res)), _q(lim[res])
    if ll is not None and ll > e:
        return f"maximum {res} usage per {kind} is {_s(enforced)}, but limit is {_s(lim[res])}"
    if res in req and r is not None and r > e:
        return f"maximum {res} usage per {kind} is {_s(enforced)}, but request is {_s(req[res])}"
    return None


def _ratio(kind: str, res: str, enforced: Any, req: Mapping[str, Any],
           lim: Mapping[str, Any]) -> str | None:
    e = _q(enforced)
    if e is None:
        return None
    r, ll = _q(req.get(res)), _q(lim.get(res))
    if not r:
        return (f"{res} max limit to request ratio per {kind} is {_s(enforced)}, but no "
                f"request is specified or request is 0")
    if not ll:
        return (f"{res} max limit to request ratio per {kind} is {_s(enforced)}, but no "
                f"limit is specified or limit is 0")
    observed = ll / r
    if observed > e:
        return (f"{res} max limit to request ratio per {kind} is {_s(enforced)}, but "
                f"provided ratio is {float(observed):f}")
    return None


def _item_errors(kind: str, item: Mapping[str, Any], req: Mapping[str, Any],
                 lim: Mapping[str, Any]) -> list[str]:
    errs: list[str] = []
    for field, check in (("min", _min), ("max", _max), ("maxLimitRequestRatio", _ratio)):
        for res, v in sorted((item.get(field) or {}).items()):
            e = check(kind, res, v, req, lim)
            if e:
                errs.append(e)
    return errs


def _resources(c: Any, which: str) -> Mapping[str, Any]:
    res = c.get("resources") if isinstance(c, dict) else None
    v = res.get(which) if isinstance(res, dict) else None
    return v if isinstance(v, dict) else {}


def pod_errors(limit_range: JSONDict, pod: JSONDict) -> list[str]:
    """PodValidateLimitFunc."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    errs: list[str] = []
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "Container":
            for c in containers:
                errs += _item_errors("Container", item, _resources(c, "requests"),
                                     _resources(c, "limits"))
        elif item.get("type") == "Pod":
            try:
                preq = {k: format_quantity(v) for k, v in pod_requests(pod).items()}
                plim = {k: format_quantity(v) for k, v in pod_limits(pod).items()}
            except (ValueError, TypeError):
                continue
            errs += _item_errors("Pod", item, preq, plim)
    return errs


class LimitRanger(Plugin):
    name = "LimitRanger"
    operations = frozenset({CREATE})
    resources = frozenset({"pods"})

    def __init__(self, state: Any) -> None:
        self.state = state

    async def prepare(self) -> None:
        # A LimitRange created a moment ago (kubectl apply of both) applies to this pod.
        reg: Registry = self.state.registry
        await reg.fresh_cache(api_resources.LIMITRANGES, 1.0)

    def _ranges(self, req: AdmissionRequest) -> list[JSONDict]:
        reg: Registry = self.state.registry
        cache = reg.cache(api_resources.LIMITRANGES)
        if not cache.objects or not req.namespace:
            return []
        items, _ = cache.list_objects(None, collection_prefix(api_resources.LIMITRANGES,
                                                              req.namespace))
        return [co.obj for co in items]

    def admit(self, req: AdmissionRequest) -> None:
        ranges = self._ranges(req)
        pod = req.obj
        if not ranges or pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        requests: dict[str, Any] = {}
        limits: dict[str, Any] = {}
        for lr in ranges:
            for item in (lr.get("spec") or {}).get("limits") or []:
                if isinstance(item, dict) and item.get("type") == "Container":
                    requests.update(item.get("defaultRequest") or {})
                    limits.update(item.get("default") or {})
        if not requests and not limits:
            return
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        notes: list[str] = []
        for field, prefix in (("containers", "container"), ("initContainers", "init container")):
            for c in spec.get(field) or []:
                if isinstance(c, dict):
                    _merge(c, requests, limits, prefix, notes)
        if notes:
            md = pod.setdefault("metadata", {})
            md["annotations"] = {**(md.get("annotations") or {}),
                                 ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}

    async def validate(self, req: AdmissionRequest) -> None:
        pod = req.obj
        if pod is None:
            return
        errs: list[str] = []
        for lr in self._ranges(req):
            errs += pod_errors(lr, pod)
        if len(errs) == 1:
            raise req.forbidden(errs[0])
        if errs:
            raise req.forbidden("[" + ", ".join(errs) + "]")


register_plugin(LimitRanger.name, LimitRanger)
