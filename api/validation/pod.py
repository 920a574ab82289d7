"""Pods: the pod spec, its volumes, tolerations and node affinity, and the one memo
of pod specs known to be valid.

Ports ValidatePodSpec and its parts from pkg/apis/core/validation/validation.go
(ValidateVolumes, validateHostPathType, validateTolerations, validateAffinity with
validateNodeSelectorTerm, validateInitContainers' name clash with the containers) and
ValidatePodBinding; the containers themselves are in ``container``.

The memo: pods are stamped from templates (every ReplicaSet's), so most specs have
been seen before, and checking one is pure. A spec (by its JSON, ``memo_key``) is
remembered only by the API server's admission, once the whole object passed both the
model check and ``validate``; ``validate_pod`` then skips the spec check and admission
the spec's model check. A key holding ``null`` is never trusted, as orjson writes NaN
and infinities (which YAML bodies can carry) as null too.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson

from api.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)
from api.quantity import QuantityError, parse_quantity
from api.validation.container import validate_container, validate_ephemeral_container
from api.validation.field import (
    INT32_MAX,
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    as_int,
    as_list,
    as_str,
    at_index,
    child,
    duplicate,
    forbidden,
    invalid,
    non_negative,
    not_supported,
    one_of,
    required,
)
from api.validation.meta import validate_labels, validate_selector_requirement
from api.validation.node import TAINT_EFFECTS
from api.volumes import VOLUME_SOURCES

RESTART_POLICIES = ["Always", "Never", "OnFailure"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]

_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def _file_mode(errs: Errs, value: Any, path: str) -> None:
    if value is None:
        return
    mode = as_int(errs, value, path)
    if mode is not None and not 0 <= mode <= 0o777:
        errs.append(invalid(path, mode, _FILE_MODE))


def _local_path(errs: Errs, p: str, path: str) -> None:
    """ValidateLocalNonReservedPath: a file inside the volume, never outside it."""
    if p.startswith("/"):
        errs.append(invalid(path, p, "must be a relative path"))
    if ".." in p.replace("\\", "/").split("/"):
        errs.append(invalid(path, p, "must not contain '..'"))
    if p.startswith(".."):
        errs.append(invalid(path, p, "must not start with '..'"))


def _config_volume(errs: Errs, sd: JSON, spath: str, name_field: str) -> None:
    if not as_str(errs, sd.get(name_field), child(spath, name_field)):
        errs.append(required(child(spath, name_field)))
    _file_mode(errs, sd.get("defaultMode"), child(spath, "defaultMode"))
    for j, item in enumerate(as_list(errs, sd.get("items"), child(spath, "items"))):
        ipath = at_index(child(spath, "items"), j)
        it = as_dict(errs, item, ipath)
        if not as_str(errs, it.get("key"), child(ipath, "key")):
            errs.append(required(child(ipath, "key")))
        p = as_str(errs, it.get("path"), child(ipath, "path"))
        if not p:
            errs.append(required(child(ipath, "path")))
        _local_path(errs, p, child(ipath, "path"))
        _file_mode(errs, it.get("mode"), child(ipath, "mode"))


def _validate_volumes(errs: Errs, volumes: Any, path: str) -> set[str]:
    names: set[str] = set()
    for i, v in enumerate(as_list(errs, volumes, path)):
        ip = at_index(path, i)
        vol = as_dict(errs, v, ip)
        sources = 0
        for src in VOLUME_SOURCES:
            if vol.get(src) is None:
                continue
            if sources > 0:
                errs.append(forbidden(child(ip, src), "may not specify more than 1 volume type"))
                continue
            sources += 1
            spath = child(ip, src)
            sd = as_dict(errs, vol.get(src), spath)
            if src == "hostPath":
                hp = as_str(errs, sd.get("path"), child(spath, "path"))
                if not hp:
                    errs.append(required(child(spath, "path")))
                elif ".." in hp.split("/"):
                    errs.append(invalid(child(spath, "path"), hp, "must not contain '..'"))
                one_of(errs, sd.get("type"), child(spath, "type"), HOST_PATH_TYPES)
            elif src in ("configMap", "secret"):
                _config_volume(errs, sd, spath, "name" if src == "configMap" else "secretName")
            elif src == "persistentVolumeClaim":
                # validatePersistentClaimVolumeSource
                if not as_str(errs, sd.get("claimName"), child(spath, "claimName")):
                    errs.append(required(child(spath, "claimName")))
            elif src == "emptyDir":
                one_of(
                    errs, sd.get("medium"), child(spath, "medium"), ["", "HugePages", "Memory"]
                )
                sl = sd.get("sizeLimit")
                if sl is not None:
                    try:
                        if parse_quantity(sl) < 0:
                            errs.append(invalid(child(spath, "sizeLimit"), sl, NON_NEGATIVE))
                    except QuantityError as e:
                        errs.append(invalid(child(spath, "sizeLimit"), sl, str(e)))
        if sources == 0:
            errs.append(required(ip, "must specify a volume type"))
        name = as_str(errs, vol.get("name"), child(ip, "name"))
        if not name:
            errs.append(required(child(ip, "name")))
        else:
            for m in is_dns1123_label(name):
                errs.append(invalid(child(ip, "name"), name, m))
        if name in names:
            errs.append(duplicate(child(ip, "name"), name))
        names.add(name)
    return names


def _validate_tolerations(errs: Errs, tolerations: Any, path: str) -> None:
    for i, t in enumerate(as_list(errs, tolerations, path)):
        ip = at_index(path, i)
        tol = as_dict(errs, t, ip)
        key = as_str(errs, tol.get("key"), child(ip, "key"))
        op = tol.get("operator") or ""
        effect = tol.get("effect") or ""
        value = as_str(errs, tol.get("value"), child(ip, "value"))
        if key:
            for m in is_qualified_name(key):
                errs.append(invalid(child(ip, "key"), key, m))
        if not key and op != "Exists":
            errs.append(
                invalid(
                    child(ip, "operator"),
                    op,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(
                    child(ip, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(ip, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    invalid(
                        child(ip, "operator"),
                        dict(tol),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(child(ip, "operator"), op, ["Equal", "Exists"]))
        if effect:
            one_of(errs, effect, child(ip, "effect"), TAINT_EFFECTS)


def _node_field_requirement(errs: Errs, r: Any, path: str) -> None:
    req = as_dict(errs, r, path)
    op = req.get("operator")
    values = as_list(errs, req.get("values"), child(path, "values"))
    if op in ("In", "NotIn"):
        if len(values) != 1:
            errs.append(
                required(
                    child(path, "values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    if req.get("key") != "metadata.name":
        errs.append(invalid(child(path, "key"), req.get("key"), "not a valid field selector key"))


def _node_selector_term(errs: Errs, t: Any, path: str) -> None:
    term = as_dict(errs, t, path)
    epath = child(path, "matchExpressions")
    for j, r in enumerate(as_list(errs, term.get("matchExpressions"), epath)):
        validate_selector_requirement(errs, r, at_index(epath, j), gt_lt=True)
    fpath = child(path, "matchFields")
    for j, r in enumerate(as_list(errs, term.get("matchFields"), fpath)):
        _node_field_requirement(errs, r, at_index(fpath, j))


def _validate_affinity(errs: Errs, affinity: Any, path: str) -> None:
    aff = as_dict(errs, affinity, path)
    if aff.get("nodeAffinity") is None:
        return
    napath = child(path, "nodeAffinity")
    na = as_dict(errs, aff.get("nodeAffinity"), napath)
    rpath = child(napath, "requiredDuringSchedulingIgnoredDuringExecution")
    if na.get("requiredDuringSchedulingIgnoredDuringExecution") is not None:
        ns = as_dict(errs, na.get("requiredDuringSchedulingIgnoredDuringExecution"), rpath)
        tpath = child(rpath, "nodeSelectorTerms")
        terms = as_list(errs, ns.get("nodeSelectorTerms"), tpath)
        if not terms:
            errs.append(required(tpath, "must have at least one node selector term"))
        for i, t in enumerate(terms):
            _node_selector_term(errs, t, at_index(tpath, i))
    ppath = child(napath, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, p in enumerate(
        as_list(errs, na.get("preferredDuringSchedulingIgnoredDuringExecution"), ppath)
    ):
        ip = at_index(ppath, i)
        pref = as_dict(errs, p, ip)
        w = as_int(errs, pref.get("weight"), child(ip, "weight"))
        if w is None or not 1 <= w <= 100:
            errs.append(
                invalid(child(ip, "weight"), pref.get("weight"), "must be in the range 1-100")
            )
        _node_selector_term(errs, pref.get("preference"), child(ip, "preference"))


def validate_pod_spec(spec: Any, path: str = "spec") -> Errs:
    errs: Errs = []
    sp = as_dict(errs, spec, path)
    volumes = _validate_volumes(errs, sp.get("volumes"), child(path, "volumes"))
    # Regular containers first; init containers must not reuse their names, and a
    # clash is reported on the init container (validateInitContainers).
    names: set[str] = set()
    cpath = child(path, "containers")
    containers = as_list(errs, sp.get("containers"), cpath)
    if not containers:
        errs.append(required(cpath))
    for i, c in enumerate(containers):
        validate_container(errs, c, at_index(cpath, i), names, volumes, init=False)
    ipath = child(path, "initContainers")
    for i, c in enumerate(as_list(errs, sp.get("initContainers"), ipath)):
        validate_container(errs, c, at_index(ipath, i), names, volumes, init=True)
    epath = child(path, "ephemeralContainers")
    if path != "spec" and sp.get("ephemeralContainers"):
        # ValidatePodTemplateSpec: a template's spec (a pod's own is at "spec")
        errs.append(forbidden(epath, "ephemeral containers not allowed in pod template"))
    others = set(names)
    for i, c in enumerate(as_list(errs, sp.get("ephemeralContainers"), epath)):
        validate_ephemeral_container(errs, c, at_index(epath, i), names, others, volumes)
    if sp.get("shareProcessNamespace") is True and sp.get("hostPID") is True:
        # ValidatePodSecurityContext (the internal type keeps both in the security context)
        errs.append(invalid(child(path, "securityContext", "shareProcessNamespace"), True,
                            "ShareProcessNamespace and HostPID cannot both be enabled"))
    one_of(errs, sp.get("restartPolicy"), child(path, "restartPolicy"), RESTART_POLICIES)
    one_of(errs, sp.get("dnsPolicy"), child(path, "dnsPolicy"), DNS_POLICIES)
    non_negative(
        errs, sp.get("terminationGracePeriodSeconds"), child(path, "terminationGracePeriodSeconds")
    )
    ads = as_int(errs, sp.get("activeDeadlineSeconds"), child(path, "activeDeadlineSeconds"))
    if ads is not None and not 1 <= ads <= INT32_MAX:
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"),
                ads,
                f"must be between 1 and {INT32_MAX}, inclusive",
            )
        )
    node_name = as_str(errs, sp.get("nodeName"), child(path, "nodeName"))
    if node_name:
        for m in is_dns1123_subdomain(node_name):
            errs.append(invalid(child(path, "nodeName"), node_name, m))
    errs += validate_labels(sp.get("nodeSelector"), child(path, "nodeSelector"))
    hostname = as_str(errs, sp.get("hostname"), child(path, "hostname"))
    if hostname:
        for m in is_dns1123_label(hostname):
            errs.append(invalid(child(path, "hostname"), hostname, m))
    subdomain = as_str(errs, sp.get("subdomain"), child(path, "subdomain"))
    if subdomain:
        for m in is_dns1123_label(subdomain):
            errs.append(invalid(child(path, "subdomain"), subdomain, m))
    _validate_dns_config(errs, sp.get("dnsConfig"), sp.get("dnsPolicy"), child(path, "dnsConfig"))
    sched = as_str(errs, sp.get("schedulerName"), child(path, "schedulerName"))
    if sched:
        for m in is_dns1123_subdomain(sched):
            errs.append(invalid(child(path, "schedulerName"), sched, m))
    _validate_tolerations(errs, sp.get("tolerations"), child(path, "tolerations"))
    if sp.get("affinity") is not None:
        _validate_affinity(errs, sp.get("affinity"), child(path, "affinity"))
    return errs


MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048


def _validate_dns_config(errs: Errs, config: Any, policy: Any, path: str) -> None:
    """validatePodDNSConfig: dnsPolicy None needs a dnsConfig with a nameserver; at most
    3 nameservers (IPs), 32 search paths of 2048 characters in all (DNS-1123 subdomains,
    a trailing dot allowed), options with names."""
    if policy == "None":
        if config is None:
            errs.append(required(path, "must provide `dnsConfig` when `dnsPolicy` is None"))
            return
        if isinstance(config, dict) and not config.get("nameservers"):
            errs.append(required(child(path, "nameservers"),
                                 "must provide at least one DNS nameserver when "
                                 "`dnsPolicy` is None"))
            return
    if config is None:
        return
    cfg = as_dict(errs, config, path)
    npath = child(path, "nameservers")
    servers = as_list(errs, cfg.get("nameservers"), npath)
    if len(servers) > MAX_DNS_NAMESERVERS:
        errs.append(invalid(npath, servers,
                            f"must not have more than {MAX_DNS_NAMESERVERS} nameservers"))
    for i, ns in enumerate(servers):
        try:
            ipaddress.ip_address(ns if isinstance(ns, str) else "")
        except ValueError:
            errs.append(invalid(at_index(npath, i), ns,
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    spath = child(path, "searches")
    searches = as_list(errs, cfg.get("searches"), spath)
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        errs.append(invalid(spath, searches,
                            f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths"))
    if len(" ".join(str(x) for x in searches)) > MAX_DNS_SEARCH_LIST_CHARS:
        errs.append(invalid(spath, searches,
                            f"must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters "
                            "(including spaces) in the search list"))
    for i, search in enumerate(searches):
        name = as_str(errs, search, at_index(spath, i)).removesuffix(".")
        for m in is_dns1123_subdomain(name):
            errs.append(invalid(at_index(spath, i), name, m))
    opath = child(path, "options")
    for i, opt in enumerate(as_list(errs, cfg.get("options"), opath)):
        if not (isinstance(opt, dict) and opt.get("name")):
            errs.append(required(at_index(opath, i), "Option.Name must not be empty"))


# ---- the memo of valid pod specs -------------------------------------------------

_KNOWN_VALID_SPECS: dict[bytes, None] = {}
_KNOWN_VALID_SPECS_MAX = 1024


def memo_key(spec: Any) -> bytes | None:
    """A dict's JSON as a memo key, or None where equal bytes might not mean equal
    values (NaN/infinity written as null) or it cannot be encoded."""
    if not isinstance(spec, dict):
        return None
    try:
        key = orjson.dumps(spec)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return None if b"null" in key else key


def spec_known_valid(key: bytes | None) -> bool:
    """Whether the pod spec of this ``memo_key`` passed the model check and
    ``validate_pod_spec`` before."""
    return key is not None and key in _KNOWN_VALID_SPECS


def remember_valid_spec(key: bytes | None) -> None:
    """Remember a pod spec that passed both the model check and ``validate_pod_spec``
    (the caller's word); the memo is bounded and starts afresh when full."""
    if key is None:
        return
    if len(_KNOWN_VALID_SPECS) >= _KNOWN_VALID_SPECS_MAX:
        _KNOWN_VALID_SPECS.clear()
    _KNOWN_VALID_SPECS[key] = None


# ---- kinds ------------------------------------------------------------------------


def validate_pod(obj: JSON) -> Errs:
    """ValidatePodSpec of a Pod (its metadata is checked by the caller)."""
    spec = obj.get("spec")
    if spec_known_valid(memo_key(spec)):
        return []
    return validate_pod_spec(spec, "spec")


def validate_binding(obj: JSON) -> Errs:
    errs: Errs = []
    target = as_dict(errs, obj.get("target"), "target")
    kind = target.get("kind")
    if kind and kind != "Node":
        errs.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs
