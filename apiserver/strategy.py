"""Per-kind rules of the generic registry, after Kubernetes' RESTCreateStrategy and
RESTUpdateStrategy: what create resets, what a main-resource or status write may
touch, when generation grows, and how deletion proceeds.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

import orjson

from api.defaults import prepare_pod_status_for_create
from api.resources import ResourceInfo
from api.timeutil import now

JSONDict = dict[str, Any]

# Kinds whose status is written only through /status; a main-resource write keeps it.
STATUS_SUBRESOURCE = frozenset({"Pod", "Node", "Namespace", "Deployment", "ReplicaSet"})
# Kinds whose metadata.generation counts spec changes.
GENERATION = frozenset({"Pod", "Deployment", "ReplicaSet"})

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SimpleNameGenerator alphabet


def generate_name(base: str) -> str:
    base = base[: 63 - 5]
    return base + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


def meta(obj: JSONDict) -> JSONDict:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    return md


_SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "generation", "resourceVersion", "selfLink")


def prepare_for_create(info: ResourceInfo, obj: JSONDict) -> None:
    md = meta(obj)
    for k in _SERVER_OWNED:
        md.pop(k, None)
    md["uid"] = str(uuid.uuid4())
    md["creationTimestamp"] = now()
    md.pop("managedFields", None)
    if info.kind in GENERATION:
        md["generation"] = 1
    kind = info.kind
    if kind == "Secret":
        merge_string_data(obj)
    if kind == "Pod":
        # Like PodStrategy.PrepareForCreate: clients do not get to invent a status.
        obj["status"] = _pending_status(obj)
    elif kind in ("Deployment", "ReplicaSet"):
        obj["status"] = {}
        if kind == "ReplicaSet":
            obj["status"] = {"replicas": 0}
    elif kind == "Namespace":
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        spec = dict(spec or {})
        spec["finalizers"] = ["kubernetes"]
        obj["spec"] = spec
        obj["status"] = {"phase": "Active"}


def merge_string_data(secret: JSONDict) -> None:
    """A Secret's write-only stringData goes into data (base64), overwriting, and is
    dropped, as the v1 -> internal conversion does. A malformed one stays for
    validation to name."""
    sd = secret.get("stringData")
    if sd is None:
        secret.pop("stringData", None)
        return
    if not isinstance(sd, dict) or not all(isinstance(v, str) for v in sd.values()):
        return
    data = secret.get("data")
    if data is not None and not isinstance(data, dict):
        return
    merged = dict(data or {})
    for k, v in sd.items():
        merged[k] = base64.b64encode(v.encode()).decode()
    secret.pop("stringData")
    if merged:
        secret["data"] = merged


_QOS_MEMO: dict[bytes, JSONDict] = {}


def _pending_status(pod: JSONDict) -> JSONDict:
    """``api.defaults.prepare_pod_status_for_create``, memoized on the containers'
    resources, the only input of the QoS class: pods stamped from one template
    (every ReplicaSet's) share it, and working it out costs as much as validation."""
    spec = pod.get("spec")
    try:
        key = orjson.dumps([[c.get("resources") for c in spec.get(f) or []]
                            for f in ("initContainers", "containers")]) \
            if isinstance(spec, dict) else b""
    except (AttributeError, TypeError):
        key = b""
    if key:
        hit = _QOS_MEMO.get(key)
        if hit is not None:
            return dict(hit)
    probe: JSONDict = dict(pod)
    prepare_pod_status_for_create(probe)
    status: JSONDict = probe["status"]
    if key:
        if len(_QOS_MEMO) > 4096:
            _QOS_MEMO.clear()
        _QOS_MEMO[key] = dict(status)
    return status


def prepare_for_update(info: ResourceInfo, new: JSONDict, old: JSONDict) -> None:
    """A main-resource write: server-owned metadata and status come from ``old``."""
    md, omd = meta(new), meta(old)
    for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "generation"):
        if k in omd:
            md[k] = omd[k]
        else:
            md.pop(k, None)
    md.pop("managedFields", None)
    md.pop("selfLink", None)
    if info.kind == "Secret":
        merge_string_data(new)
    if info.kind in STATUS_SUBRESOURCE:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if info.kind == "Namespace":
        ospec = old.get("spec") or {}
        spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
        spec = dict(spec or {})
        if "finalizers" in ospec:
            spec["finalizers"] = ospec["finalizers"]
        new["spec"] = spec
    if info.kind in GENERATION and new.get("spec") != old.get("spec"):
        md["generation"] = int(omd.get("generation") or 1) + 1


def prepare_for_status_update(new_status: Any, old: JSONDict) -> JSONDict:
    """A /status write: everything but status stays as it was."""
    new = dict(old)
    new["metadata"] = dict(meta(old))
    if new_status is None:
        new.pop("status", None)
    else:
        new["status"] = new_status
    return new


def added_finalizers(new: JSONDict, old: JSONDict) -> list[str]:
    before = set(meta(old).get("finalizers") or [])
    return [f for f in meta(new).get("finalizers") or [] if f not in before]


def should_delete_now(info: ResourceInfo, obj: JSONDict) -> bool:
    """An object being deleted goes once nothing holds it (ShouldDeleteDuringUpdate)."""
    md = meta(obj)
    if not md.get("deletionTimestamp"):
        return False
    if md.get("finalizers"):
        return False
    if info.kind == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
        return False
    return int(md.get("deletionGracePeriodSeconds") or 0) == 0


def pod_grace_period(obj: JSONDict, requested: int | None) -> int:
    """CheckGracefulDelete for pods: unscheduled or finished pods go at once."""
    spec = obj.get("spec") or {}
    grace = requested
    if grace is None:
        tg = spec.get("terminationGracePeriodSeconds")
        grace = int(tg) if isinstance(tg, int) else 30
    if not spec.get("nodeName"):
        return 0
    if (obj.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        return 0
    return max(0, grace)
