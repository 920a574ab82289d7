"""Validation of wire dicts with Kubernetes' field paths, reasons and messages.

``validate(kind, obj)`` mirrors pkg/apis/*/validation for the kinds minik8s serves
and returns every problem it finds, so one 422 can name them all.  It expects the
object after defaulting (as the API server does), but fields that defaulting
would fill in are accepted when absent, so clients may validate early too.
It never raises on odd input: a value of the wrong type is itself a field error.

``validate_update(kind, old, new)`` returns only the update-specific errors
(immutable fields); callers run ``validate(kind, new)`` as well.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from api.labels import SelectorError, from_label_selector
from api.names import (
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
    is_valid_label_value,
    is_valid_percent,
    is_valid_port_name,
    is_valid_port_num,
    mask_trailing_dash,
)
from api.quantity import QuantityError, canonical, parse_quantity
from api.volumes import VOLUME_SOURCES

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_FOUND",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "FieldError",
    "NAMESPACED_KINDS",
    "invalid_message",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "validate",
    "validate_update",
]

# Kubernetes' field.ErrorType values, as they appear in Status causes.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
TOO_LONG = "FieldValueTooLong"
FORBIDDEN = "FieldValueForbidden"
NOT_FOUND = "FieldValueNotFound"
TOO_MANY = "FieldValueTooMany"

_TYPE_TEXT = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    TOO_LONG: "Too long",
    FORBIDDEN: "Forbidden",
    NOT_FOUND: "Not found",
    TOO_MANY: "Too many",
}

_NO_VALUE = object()


def _show(value: Any) -> str:
    """A bad value as Kubernetes prints it: strings quoted, numbers and bools bare."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class FieldError:
    """One field problem: ``field`` is the path (``spec.containers[0].image``),
    ``type`` the reason (``FieldValueRequired``...), ``message`` the detail."""

    field: str
    type: str
    message: str = ""
    value: Any = dataclasses.field(default=_NO_VALUE, compare=False)

    @property
    def reason(self) -> str:
        return self.type

    def body(self) -> str:
        """Kubernetes' ErrorBody: ``Invalid value: "x": detail``, ``Required value``..."""
        text = _TYPE_TEXT.get(self.type, self.type)
        if self.type in (REQUIRED, FORBIDDEN, TOO_LONG) or self.value is _NO_VALUE:
            s = text
        else:
            s = f"{text}: {_show(self.value)}"
        if self.message:
            s += f": {self.message}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def to_cause(self) -> dict[str, str]:
        """The StatusCause: reason = type, message = body, field = path."""
        return {"reason": self.type, "message": self.body(), "field": self.field}


def invalid_message(group_kind: str, name: str, errors: list[FieldError]) -> str:
    """The Status message for 422 Invalid (``Deployment.apps "web" is invalid: ...``)."""
    texts: list[str] = []
    for e in errors:
        t = str(e)
        if t not in texts:
            texts.append(t)
    if not texts:
        return f'{group_kind} "{name}" is invalid'
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return f'{group_kind} "{name}" is invalid: {joined}'


# ---- path and error helpers ---------------------------------------------------


def _child(path: str, *names: str) -> str:
    for n in names:
        path = f"{path}.{n}" if path else n
    return path


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, INVALID, detail, value)


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    return FieldError(
        path, NOT_SUPPORTED, "supported values: " + ", ".join(json.dumps(v) for v in valid), value
    )


def duplicate(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(path, DUPLICATE, detail, value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, FORBIDDEN, detail)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, NOT_FOUND, "", value)


def too_long(path: str, max_bytes: int) -> FieldError:
    return FieldError(path, TOO_LONG, f"may not be more than {max_bytes} bytes")


Errs = list[FieldError]
JSON = Mapping[str, Any]
_NONNEG = "must be greater than or equal to 0"


def _dict(errs: Errs, value: Any, path: str) -> JSON:
    """``value`` as a mapping (None -> {}); anything else is an error and {}."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    errs.append(invalid(path, value, "must be an object"))
    return {}


def _list(errs: Errs, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    errs.append(invalid(path, value, "must be a list"))
    return []


def _str(errs: Errs, value: Any, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    errs.append(invalid(path, value, "must be a string"))
    return ""


def _int(errs: Errs, value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    errs.append(invalid(path, value, "must be an integer"))
    return None


def _nonneg(errs: Errs, value: Any, path: str) -> None:
    n = _int(errs, value, path)
    if n is not None and n < 0:
        errs.append(invalid(path, n, _NONNEG))


def _one_of(errs: Errs, value: Any, path: str, allowed: list[str]) -> None:
    """Unset is fine (defaulting fills it); set must be one of ``allowed``."""
    if value is None:
        return
    if value not in allowed:
        errs.append(not_supported(path, value, allowed))


# ---- metadata -----------------------------------------------------------------

NameCheck = Callable[[str], list[str]]

NAMESPACED_KINDS = frozenset(
    {"Pod", "Deployment", "ReplicaSet", "Event", "Lease", "Binding", "Scale", "ConfigMap",
     "Secret"}
)
_CLUSTER_KINDS = frozenset({"Node", "Namespace"})
_NAME_CHECKS: dict[str, NameCheck] = {"Namespace": is_dns1123_label}
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str) -> Errs:
    errs: Errs = []
    for k, v in _dict(errs, labels, path).items():
        for m in is_qualified_name(str(k)):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        for m in is_valid_label_value(v):
            errs.append(invalid(path, v, m))
    return errs


def validate_annotations(annotations: Any, path: str) -> Errs:
    errs: Errs = []
    total = 0
    for k, v in _dict(errs, annotations, path).items():
        for m in is_qualified_name(str(k).lower()):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        total += len(str(k)) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _owner_references(errs: Errs, refs: Any, path: str) -> None:
    first_controller = ""
    items = _list(errs, refs, path)
    for ref in items:
        r = _dict(errs, ref, path)
        api_version = str(r.get("apiVersion") or "")
        if not api_version.rsplit("/", 1)[-1]:
            errs.append(
                invalid(_child(path, "apiVersion"), api_version, "version must not be empty")
            )
        for f, label in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not r.get(f):
                errs.append(invalid(_child(path, f), r.get(f) or "", f"{label} must not be empty"))
        if r.get("controller") is True:
            cur = f"{r.get('kind')}/{r.get('name')}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        items,
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {cur}",
                    )
                )
            else:
                first_controller = cur


def validate_object_meta(meta: Any, kind: str, path: str = "metadata") -> Errs:
    errs: Errs = []
    md = _dict(errs, meta, path)
    check = _NAME_CHECKS.get(kind, is_dns1123_subdomain)
    name = _str(errs, md.get("name"), _child(path, "name"))
    generate_name = _str(errs, md.get("generateName"), _child(path, "generateName"))
    if generate_name:
        for m in check(mask_trailing_dash(generate_name)):
            errs.append(invalid(_child(path, "generateName"), generate_name, m))
    if name:
        for m in check(name):
            errs.append(invalid(_child(path, "name"), name, m))
    elif not generate_name:
        errs.append(required(_child(path, "name"), "name or generateName is required"))
    ns = _str(errs, md.get("namespace"), _child(path, "namespace"))
    if kind in NAMESPACED_KINDS:
        if not ns:
            errs.append(required(_child(path, "namespace")))
        else:
            for m in is_dns1123_label(ns):
                errs.append(invalid(_child(path, "namespace"), ns, m))
    elif kind in _CLUSTER_KINDS and ns:
        errs.append(forbidden(_child(path, "namespace"), "not allowed on this type"))
    _nonneg(errs, md.get("generation"), _child(path, "generation"))
    errs += validate_labels(md.get("labels"), _child(path, "labels"))
    errs += validate_annotations(md.get("annotations"), _child(path, "annotations"))
    if md.get("ownerReferences") is not None:
        _owner_references(errs, md.get("ownerReferences"), _child(path, "ownerReferences"))
    fpath = _child(path, "finalizers")
    for f in _list(errs, md.get("finalizers"), fpath):
        for m in is_qualified_name(str(f)):
            errs.append(invalid(fpath, f, m))
    return errs


def _template_meta(meta: Any, path: str) -> Errs:
    """A pod template's metadata: only labels and annotations matter."""
    errs: Errs = []
    md = _dict(errs, meta, path)
    errs += validate_labels(md.get("labels"), _child(path, "labels"))
    errs += validate_annotations(md.get("annotations"), _child(path, "annotations"))
    return errs


# ---- pod ----------------------------------------------------------------------

RESTART_POLICIES = ["Always", "Never", "OnFailure"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
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
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_INT32_MAX = 2**31 - 1


def _port_num_or_name(errs: Errs, port: Any, path: str) -> None:
    if isinstance(port, int) and not isinstance(port, bool):
        for m in is_valid_port_num(port):
            errs.append(invalid(path, port, m))
    elif isinstance(port, str):
        for m in is_valid_port_name(port):
            errs.append(invalid(path, port, m))
    elif port is None:
        errs.append(required(path))
    else:
        errs.append(invalid(path, port, "must be an integer or a string"))


def _validate_probe(errs: Errs, probe: Any, path: str, success_must_be_one: bool) -> None:
    if probe is None:
        return
    p = _dict(errs, probe, path)
    handlers = 0
    for h in ("exec", "httpGet", "tcpSocket", "grpc"):
        if p.get(h) is None:
            continue
        hpath = _child(path, h)
        if handlers > 0:
            errs.append(forbidden(hpath, "may not specify more than 1 handler type"))
            continue
        handlers += 1
        hd = _dict(errs, p.get(h), hpath)
        if h == "exec":
            if not _list(errs, hd.get("command"), _child(hpath, "command")):
                errs.append(required(_child(hpath, "command")))
        elif h == "httpGet":
            if hd.get("path") == "":
                errs.append(required(_child(hpath, "path")))
            _port_num_or_name(errs, hd.get("port"), _child(hpath, "port"))
            _one_of(errs, hd.get("scheme"), _child(hpath, "scheme"), ["HTTP", "HTTPS"])
        elif h == "tcpSocket":
            _port_num_or_name(errs, hd.get("port"), _child(hpath, "port"))
        else:
            port = _int(errs, hd.get("port"), _child(hpath, "port"))
            if port is not None:
                for m in is_valid_port_num(port):
                    errs.append(invalid(_child(hpath, "port"), port, m))
    if handlers == 0:
        errs.append(required(path, "must specify a handler type"))
    for f in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        _nonneg(errs, p.get(f), _child(path, f))
    st = p.get("successThreshold")
    if success_must_be_one and isinstance(st, int) and st != 1:
        errs.append(invalid(_child(path, "successThreshold"), st, "must be 1"))


def _validate_resources(errs: Errs, resources: Any, path: str) -> None:
    res = _dict(errs, resources, path)
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for which in ("limits", "requests"):
        wpath = _child(path, which)
        for name, raw in _dict(errs, res.get(which), wpath).items():
            kpath = _key(wpath, str(name))
            n = str(name)
            if "/" not in n:
                if n not in _STANDARD_CONTAINER_RESOURCES and not n.startswith("hugepages-"):
                    errs.append(invalid(kpath, n, "must be a standard resource for containers"))
            else:
                for m in is_qualified_name(n):
                    errs.append(invalid(kpath, n, m))
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                errs.append(invalid(kpath, raw, "must be a quantity"))
                continue
            try:
                q = parse_quantity(raw)
            except QuantityError as e:
                errs.append(invalid(kpath, raw, str(e)))
                continue
            if q < 0:
                errs.append(invalid(kpath, raw, _NONNEG))
            parsed[which][n] = (q, raw)
    for name, (req, raw) in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim[0]:
            errs.append(
                invalid(
                    _child(path, "requests"),
                    canonical(raw),
                    f"must be less than or equal to {name} limit of {canonical(lim[1])}",
                )
            )


def _validate_container(
    errs: Errs, c: Any, path: str, names: set[str], volumes: set[str], init: bool
) -> None:
    ctr = _dict(errs, c, path)
    name = _str(errs, ctr.get("name"), _child(path, "name"))
    if not name:
        errs.append(required(_child(path, "name")))
    else:
        for m in is_dns1123_label(name):
            errs.append(invalid(_child(path, "name"), name, m))
        if name in names:
            errs.append(duplicate(_child(path, "name"), name))
        names.add(name)
    image = _str(errs, ctr.get("image"), _child(path, "image"))
    if not image:
        errs.append(required(_child(path, "image")))
    elif image != image.strip():
        errs.append(
            invalid(_child(path, "image"), image, "must not have leading or trailing whitespace")
        )
    _one_of(errs, ctr.get("imagePullPolicy"), _child(path, "imagePullPolicy"), PULL_POLICIES)
    _one_of(
        errs,
        ctr.get("terminationMessagePolicy"),
        _child(path, "terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
    )
    for f in ("command", "args"):
        for i, v in enumerate(_list(errs, ctr.get(f), _child(path, f))):
            if not isinstance(v, str):
                errs.append(invalid(_index(_child(path, f), i), v, "must be a string"))

    # ports
    ppath = _child(path, "ports")
    port_names: set[str] = set()
    for i, p in enumerate(_list(errs, ctr.get("ports"), ppath)):
        ip = _index(ppath, i)
        port = _dict(errs, p, ip)
        pname = _str(errs, port.get("name"), _child(ip, "name"))
        if pname:
            for m in is_valid_port_name(pname):
                errs.append(invalid(_child(ip, "name"), pname, m))
            if pname in port_names:
                errs.append(duplicate(_child(ip, "name"), pname))
            port_names.add(pname)
        cp = _int(errs, port.get("containerPort"), _child(ip, "containerPort"))
        if not cp:
            if port.get("containerPort") is None or cp == 0:
                errs.append(required(_child(ip, "containerPort")))
        else:
            for m in is_valid_port_num(cp):
                errs.append(invalid(_child(ip, "containerPort"), cp, m))
        hp = _int(errs, port.get("hostPort"), _child(ip, "hostPort"))
        if hp:
            for m in is_valid_port_num(hp):
                errs.append(invalid(_child(ip, "hostPort"), hp, m))
        proto = port.get("protocol")
        if proto == "":
            errs.append(required(_child(ip, "protocol")))
        else:
            _one_of(errs, proto, _child(ip, "protocol"), PROTOCOLS)

    # env
    epath = _child(path, "env")
    for i, e in enumerate(_list(errs, ctr.get("env"), epath)):
        ip = _index(epath, i)
        env = _dict(errs, e, ip)
        ename = _str(errs, env.get("name"), _child(ip, "name"))
        if not ename:
            errs.append(required(_child(ip, "name")))
        else:
            for m in is_env_var_name(ename):
                errs.append(invalid(_child(ip, "name"), ename, m))
        _str(errs, env.get("value"), _child(ip, "value"))
        if env.get("value") and env.get("valueFrom") is not None:
            errs.append(
                invalid(
                    _child(ip, "valueFrom"), "", "may not be specified when `value` is not empty"
                )
            )
        elif env.get("valueFrom") is not None:
            _value_from(errs, env.get("valueFrom"), _child(ip, "valueFrom"))
    _env_from(errs, ctr.get("envFrom"), _child(path, "envFrom"))

    if ctr.get("resources") is not None:
        _validate_resources(errs, ctr.get("resources"), _child(path, "resources"))

    # volume mounts
    mpath = _child(path, "volumeMounts")
    mount_points: set[str] = set()
    for i, vm in enumerate(_list(errs, ctr.get("volumeMounts"), mpath)):
        ip = _index(mpath, i)
        mnt = _dict(errs, vm, ip)
        mname = _str(errs, mnt.get("name"), _child(ip, "name"))
        if not mname:
            errs.append(required(_child(ip, "name")))
        if mname not in volumes:
            errs.append(not_found(_child(ip, "name"), mname))
        mp = _str(errs, mnt.get("mountPath"), _child(ip, "mountPath"))
        if not mp:
            errs.append(required(_child(ip, "mountPath")))
        elif mp in mount_points:
            errs.append(invalid(_child(ip, "mountPath"), mp, "must be unique"))
        mount_points.add(mp)

    rp = ctr.get("restartPolicy")
    sidecar = init and rp == "Always"
    if init and rp is not None and rp != "Always":
        errs.append(not_supported(_child(path, "restartPolicy"), rp, ["Always"]))
    if init and not sidecar:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if ctr.get(probe) is not None:
                errs.append(
                    forbidden(
                        _child(path, probe),
                        "may not be set for init containers without restartPolicy=Always",
                    )
                )
    else:
        _validate_probe(errs, ctr.get("livenessProbe"), _child(path, "livenessProbe"), True)
        _validate_probe(errs, ctr.get("readinessProbe"), _child(path, "readinessProbe"), False)
        _validate_probe(errs, ctr.get("startupProbe"), _child(path, "startupProbe"), True)


def _key_selector(errs: Errs, value: Any, path: str) -> None:
    sel = _dict(errs, value, path)
    name = _str(errs, sel.get("name"), _child(path, "name"))
    for m in is_dns1123_subdomain(name):
        errs.append(invalid(_child(path, "name"), name, m))
    key = _str(errs, sel.get("key"), _child(path, "key"))
    if not key:
        errs.append(required(_child(path, "key")))
    for m in is_config_map_key(key) if key else []:
        errs.append(invalid(_child(path, "key"), key, m))


def _value_from(errs: Errs, value: Any, path: str) -> None:
    vf = _dict(errs, value, path)
    sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
               if vf.get(k) is not None]
    for k in ("configMapKeyRef", "secretKeyRef"):
        if k in sources:
            _key_selector(errs, vf.get(k), _child(path, k))
    if not sources:
        errs.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                      "`configMapKeyRef` or `secretKeyRef`"))
    elif len(sources) > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))


def _env_from(errs: Errs, value: Any, path: str) -> None:
    for i, item in enumerate(_list(errs, value, path)):
        ip = _index(path, i)
        ef = _dict(errs, item, ip)
        prefix = _str(errs, ef.get("prefix"), _child(ip, "prefix"))
        if prefix:
            for m in is_env_var_name(prefix):
                errs.append(invalid(_child(ip, "prefix"), prefix, m))
        sources = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        for k in sources:
            ref = _dict(errs, ef.get(k), _child(ip, k))
            name = _str(errs, ref.get("name"), _child(ip, k, "name"))
            if not name:
                errs.append(required(_child(ip, k, "name")))
            for m in is_dns1123_subdomain(name) if name else []:
                errs.append(invalid(_child(ip, k, "name"), name, m))
        if not sources:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(sources) > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))


_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def _file_mode(errs: Errs, value: Any, path: str) -> None:
    if value is None:
        return
    mode = _int(errs, value, path)
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
    if not _str(errs, sd.get(name_field), _child(spath, name_field)):
        errs.append(required(_child(spath, name_field)))
    _file_mode(errs, sd.get("defaultMode"), _child(spath, "defaultMode"))
    for j, item in enumerate(_list(errs, sd.get("items"), _child(spath, "items"))):
        ipath = _index(_child(spath, "items"), j)
        it = _dict(errs, item, ipath)
        if not _str(errs, it.get("key"), _child(ipath, "key")):
            errs.append(required(_child(ipath, "key")))
        p = _str(errs, it.get("path"), _child(ipath, "path"))
        if not p:
            errs.append(required(_child(ipath, "path")))
        _local_path(errs, p, _child(ipath, "path"))
        _file_mode(errs, it.get("mode"), _child(ipath, "mode"))


def _validate_volumes(errs: Errs, volumes: Any, path: str) -> set[str]:
    names: set[str] = set()
    for i, v in enumerate(_list(errs, volumes, path)):
        ip = _index(path, i)
        vol = _dict(errs, v, ip)
        sources = 0
        for src in VOLUME_SOURCES:
            if vol.get(src) is None:
                continue
            if sources > 0:
                errs.append(forbidden(_child(ip, src), "may not specify more than 1 volume type"))
                continue
            sources += 1
            spath = _child(ip, src)
            sd = _dict(errs, vol.get(src), spath)
            if src == "hostPath":
                hp = _str(errs, sd.get("path"), _child(spath, "path"))
                if not hp:
                    errs.append(required(_child(spath, "path")))
                elif ".." in hp.split("/"):
                    errs.append(invalid(_child(spath, "path"), hp, "must not contain '..'"))
                _one_of(errs, sd.get("type"), _child(spath, "type"), HOST_PATH_TYPES)
            elif src in ("configMap", "secret"):
                _config_volume(errs, sd, spath, "name" if src == "configMap" else "secretName")
            elif src == "emptyDir":
                _one_of(
                    errs, sd.get("medium"), _child(spath, "medium"), ["", "HugePages", "Memory"]
                )
                sl = sd.get("sizeLimit")
                if sl is not None:
                    try:
                        if parse_quantity(sl) < 0:
                            errs.append(invalid(_child(spath, "sizeLimit"), sl, _NONNEG))
                    except QuantityError as e:
                        errs.append(invalid(_child(spath, "sizeLimit"), sl, str(e)))
        if sources == 0:
            errs.append(required(ip, "must specify a volume type"))
        name = _str(errs, vol.get("name"), _child(ip, "name"))
        if not name:
            errs.append(required(_child(ip, "name")))
        else:
            for m in is_dns1123_label(name):
                errs.append(invalid(_child(ip, "name"), name, m))
        if name in names:
            errs.append(duplicate(_child(ip, "name"), name))
        names.add(name)
    return names


def _validate_tolerations(errs: Errs, tolerations: Any, path: str) -> None:
    for i, t in enumerate(_list(errs, tolerations, path)):
        ip = _index(path, i)
        tol = _dict(errs, t, ip)
        key = _str(errs, tol.get("key"), _child(ip, "key"))
        op = tol.get("operator") or ""
        effect = tol.get("effect") or ""
        value = _str(errs, tol.get("value"), _child(ip, "value"))
        if key:
            for m in is_qualified_name(key):
                errs.append(invalid(_child(ip, "key"), key, m))
        if not key and op != "Exists":
            errs.append(
                invalid(
                    _child(ip, "operator"),
                    op,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(
                    _child(ip, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(_child(ip, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    invalid(
                        _child(ip, "operator"),
                        dict(tol),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(_child(ip, "operator"), op, ["Equal", "Exists"]))
        if effect:
            _one_of(errs, effect, _child(ip, "effect"), TAINT_EFFECTS)


def _selector_requirement(errs: Errs, r: Any, path: str, *, gt_lt: bool) -> None:
    """A label selector requirement (ValidateLabelSelectorRequirement); with ``gt_lt`` a node
    selector requirement (validateNodeSelectorRequirement), which also allows Gt and Lt."""
    req = _dict(errs, r, path)
    op = req.get("operator")
    values = _list(errs, req.get("values"), _child(path, "values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    _child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    _child(path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    elif gt_lt and op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(
                    _child(path, "values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )
            )
    else:
        errs.append(invalid(_child(path, "operator"), op, "not a valid selector operator"))
    key = str(req.get("key") or "")
    for m in is_qualified_name(key):
        errs.append(invalid(_child(path, "key"), key, m))
    for i, v in enumerate(values):
        for m in is_valid_label_value(str(v)):
            errs.append(invalid(_index(_child(path, "values"), i), v, m))


def _node_field_requirement(errs: Errs, r: Any, path: str) -> None:
    req = _dict(errs, r, path)
    op = req.get("operator")
    values = _list(errs, req.get("values"), _child(path, "values"))
    if op in ("In", "NotIn"):
        if len(values) != 1:
            errs.append(
                required(
                    _child(path, "values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                )
            )
    else:
        errs.append(invalid(_child(path, "operator"), op, "not a valid selector operator"))
    if req.get("key") != "metadata.name":
        errs.append(invalid(_child(path, "key"), req.get("key"), "not a valid field selector key"))


def _node_selector_term(errs: Errs, t: Any, path: str) -> None:
    term = _dict(errs, t, path)
    epath = _child(path, "matchExpressions")
    for j, r in enumerate(_list(errs, term.get("matchExpressions"), epath)):
        _selector_requirement(errs, r, _index(epath, j), gt_lt=True)
    fpath = _child(path, "matchFields")
    for j, r in enumerate(_list(errs, term.get("matchFields"), fpath)):
        _node_field_requirement(errs, r, _index(fpath, j))


def _validate_affinity(errs: Errs, affinity: Any, path: str) -> None:
    aff = _dict(errs, affinity, path)
    if aff.get("nodeAffinity") is None:
        return
    napath = _child(path, "nodeAffinity")
    na = _dict(errs, aff.get("nodeAffinity"), napath)
    rpath = _child(napath, "requiredDuringSchedulingIgnoredDuringExecution")
    if na.get("requiredDuringSchedulingIgnoredDuringExecution") is not None:
        ns = _dict(errs, na.get("requiredDuringSchedulingIgnoredDuringExecution"), rpath)
        tpath = _child(rpath, "nodeSelectorTerms")
        terms = _list(errs, ns.get("nodeSelectorTerms"), tpath)
        if not terms:
            errs.append(required(tpath, "must have at least one node selector term"))
        for i, t in enumerate(terms):
            _node_selector_term(errs, t, _index(tpath, i))
    ppath = _child(napath, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, p in enumerate(
        _list(errs, na.get("preferredDuringSchedulingIgnoredDuringExecution"), ppath)
    ):
        ip = _index(ppath, i)
        pref = _dict(errs, p, ip)
        w = _int(errs, pref.get("weight"), _child(ip, "weight"))
        if w is None or not 1 <= w <= 100:
            errs.append(
                invalid(_child(ip, "weight"), pref.get("weight"), "must be in the range 1-100")
            )
        _node_selector_term(errs, pref.get("preference"), _child(ip, "preference"))


def validate_pod_spec(spec: Any, path: str = "spec") -> Errs:
    errs: Errs = []
    sp = _dict(errs, spec, path)
    volumes = _validate_volumes(errs, sp.get("volumes"), _child(path, "volumes"))
    # Regular containers first; init containers must not reuse their names, and a
    # clash is reported on the init container (validateInitContainers).
    names: set[str] = set()
    cpath = _child(path, "containers")
    containers = _list(errs, sp.get("containers"), cpath)
    if not containers:
        errs.append(required(cpath))
    for i, c in enumerate(containers):
        _validate_container(errs, c, _index(cpath, i), names, volumes, init=False)
    ipath = _child(path, "initContainers")
    for i, c in enumerate(_list(errs, sp.get("initContainers"), ipath)):
        _validate_container(errs, c, _index(ipath, i), names, volumes, init=True)
    _one_of(errs, sp.get("restartPolicy"), _child(path, "restartPolicy"), RESTART_POLICIES)
    _one_of(errs, sp.get("dnsPolicy"), _child(path, "dnsPolicy"), DNS_POLICIES)
    _nonneg(
        errs, sp.get("terminationGracePeriodSeconds"), _child(path, "terminationGracePeriodSeconds")
    )
    ads = _int(errs, sp.get("activeDeadlineSeconds"), _child(path, "activeDeadlineSeconds"))
    if ads is not None and not 1 <= ads <= _INT32_MAX:
        errs.append(
            invalid(
                _child(path, "activeDeadlineSeconds"),
                ads,
                f"must be between 1 and {_INT32_MAX}, inclusive",
            )
        )
    node_name = _str(errs, sp.get("nodeName"), _child(path, "nodeName"))
    if node_name:
        for m in is_dns1123_subdomain(node_name):
            errs.append(invalid(_child(path, "nodeName"), node_name, m))
    errs += validate_labels(sp.get("nodeSelector"), _child(path, "nodeSelector"))
    hostname = _str(errs, sp.get("hostname"), _child(path, "hostname"))
    if hostname:
        for m in is_dns1123_label(hostname):
            errs.append(invalid(_child(path, "hostname"), hostname, m))
    sched = _str(errs, sp.get("schedulerName"), _child(path, "schedulerName"))
    if sched:
        for m in is_dns1123_subdomain(sched):
            errs.append(invalid(_child(path, "schedulerName"), sched, m))
    _validate_tolerations(errs, sp.get("tolerations"), _child(path, "tolerations"))
    if sp.get("affinity") is not None:
        _validate_affinity(errs, sp.get("affinity"), _child(path, "affinity"))
    return errs


# Pod specs that validated clean, by their JSON: pods are stamped from templates (every
# ReplicaSet's), so most specs have been seen before, and the check is pure. Only
# clean results are kept (errors carry per-object values), and a key holding
# ``null`` is not trusted, as orjson writes NaN and infinities (which YAML bodies can
# carry) as null too.
_VALID_POD_SPECS: dict[bytes, None] = {}
_VALID_POD_SPECS_MAX = 1024


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


def _validate_pod(obj: JSON) -> Errs:
    spec = obj.get("spec")
    key = memo_key(spec)
    if key is not None and key in _VALID_POD_SPECS:
        return []
    errs = validate_pod_spec(spec, "spec")
    if key is not None and not errs:
        if len(_VALID_POD_SPECS) >= _VALID_POD_SPECS_MAX:
            _VALID_POD_SPECS.clear()
        _VALID_POD_SPECS[key] = None
    return errs


# ---- deployments and replica sets ------------------------------------------------


def validate_label_selector(sel: Any, path: str) -> Errs:
    """unversioned ValidateLabelSelector: operators, values, keys and matchLabels."""
    errs: Errs = []
    s = _dict(errs, sel, path)
    epath = _child(path, "matchExpressions")
    for i, e in enumerate(_list(errs, s.get("matchExpressions"), epath)):
        _selector_requirement(errs, e, _index(epath, i), gt_lt=False)
    errs += validate_labels(s.get("matchLabels"), _child(path, "matchLabels"))
    return errs


def _replicated_spec(errs: Errs, spec: JSON, path: str) -> None:
    """What Deployment and ReplicaSet share: replicas, selector, template."""
    _nonneg(errs, spec.get("replicas"), _child(path, "replicas"))
    _nonneg(errs, spec.get("minReadySeconds"), _child(path, "minReadySeconds"))
    spath = _child(path, "selector")
    sel = spec.get("selector")
    if sel is None:
        errs.append(required(spath))
    else:
        errs += validate_label_selector(sel, spath)
        if (
            isinstance(sel, Mapping)
            and not sel.get("matchLabels")
            and not sel.get("matchExpressions")
        ):
            errs.append(invalid(spath, sel, "empty selector is invalid for deployment"))
    tpath = _child(path, "template")
    tmpl = _dict(errs, spec.get("template"), tpath)
    try:
        selector = from_label_selector(sel if isinstance(sel, Mapping) else None)
    except SelectorError:
        errs.append(invalid(spath, sel, "invalid label selector"))
        return
    meta = _dict(errs, tmpl.get("metadata"), _child(tpath, "metadata"))
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else None
    if not selector.empty and not selector.matches_nothing and not selector.matches(labels):
        errs.append(
            invalid(
                _child(tpath, "metadata", "labels"),
                labels,
                "`selector` does not match template `labels`",
            )
        )
    errs += _template_meta(tmpl.get("metadata"), _child(tpath, "metadata"))
    errs += validate_pod_spec(tmpl.get("spec"), _child(tpath, "spec"))
    pod_spec = tmpl.get("spec")
    if isinstance(pod_spec, Mapping):
        rp = pod_spec.get("restartPolicy")
        if rp is not None and rp != "Always" and rp in RESTART_POLICIES:
            errs.append(not_supported(_child(tpath, "spec", "restartPolicy"), rp, ["Always"]))
        if pod_spec.get("activeDeadlineSeconds") is not None:
            errs.append(
                invalid(
                    _child(tpath, "spec", "activeDeadlineSeconds"),
                    pod_spec.get("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicaSet is not Supported",
                )
            )


def _int_or_percent(errs: Errs, v: Any, path: str, at_most_100: bool) -> int | None:
    """A non-negative int or "N%"; returns the number (percent or int) for later checks."""
    if isinstance(v, str):
        msgs = is_valid_percent(v)
        for m in msgs:
            errs.append(invalid(path, v, m))
        if msgs:
            return None
        n = int(v[:-1])
        if at_most_100 and n > 100:
            errs.append(invalid(path, v, "must not be greater than 100%"))
        return n
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            errs.append(invalid(path, v, _NONNEG))
        return v
    errs.append(invalid(path, v, "must be an integer or a percentage"))
    return None


def _validate_strategy(errs: Errs, strategy: Any, path: str) -> None:
    if strategy is None:
        return
    st = _dict(errs, strategy, path)
    t = st.get("type")
    rpath = _child(path, "rollingUpdate")
    if t == "Recreate":
        if st.get("rollingUpdate") is not None:
            errs.append(forbidden(rpath, "may not be specified when strategy `type` is 'Recreate'"))
    elif t == "RollingUpdate" or t is None:
        ru = _dict(errs, st.get("rollingUpdate"), rpath)
        unavailable = ru.get("maxUnavailable")
        surge = ru.get("maxSurge")
        u = (
            _int_or_percent(errs, unavailable, _child(rpath, "maxUnavailable"), True)
            if unavailable is not None
            else None
        )
        s = _int_or_percent(errs, surge, _child(rpath, "maxSurge"), False) if surge is not None else None
        if u == 0 and s == 0:
            errs.append(
                invalid(
                    _child(rpath, "maxUnavailable"),
                    unavailable,
                    "may not be 0 when `maxSurge` is 0",
                )
            )
    else:
        errs.append(not_supported(path, dict(st), ["Recreate", "RollingUpdate"]))


def _validate_deployment(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    _replicated_spec(errs, spec, "spec")
    _validate_strategy(errs, spec.get("strategy"), "spec.strategy")
    _nonneg(errs, spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    pds = _int(errs, spec.get("progressDeadlineSeconds"), "spec.progressDeadlineSeconds")
    if pds is not None:
        if pds < 0:
            errs.append(invalid("spec.progressDeadlineSeconds", pds, _NONNEG))
        mrs = spec.get("minReadySeconds")
        if pds <= (mrs if isinstance(mrs, int) else 0):
            errs.append(
                invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
            )
    if spec.get("paused") is not None and not isinstance(spec.get("paused"), bool):
        errs.append(invalid("spec.paused", spec.get("paused"), "must be a boolean"))
    return errs


def _validate_replicaset(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    _replicated_spec(errs, spec, "spec")
    return errs


# ---- other kinds --------------------------------------------------------------


def _validate_node(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    tpath = "spec.taints"
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(_list(errs, spec.get("taints"), tpath)):
        ip = _index(tpath, i)
        taint = _dict(errs, t, ip)
        key = str(taint.get("key") or "")
        for m in is_qualified_name(key):
            errs.append(invalid(_child(ip, "key"), key, m))
        value = str(taint.get("value") or "")
        msgs = is_valid_label_value(value)
        if msgs:
            errs.append(invalid(_child(ip, "value"), value, ";".join(msgs)))
        effect = taint.get("effect") or ""
        if not effect:
            errs.append(required(_child(ip, "effect")))
        else:
            _one_of(errs, effect, _child(ip, "effect"), TAINT_EFFECTS)
        if (key, str(effect)) in seen:
            errs.append(duplicate(ip, dict(taint), "taints must be unique by key and effect pair"))
        seen.add((key, str(effect)))
    cidrs = [spec.get("podCIDR")] if spec.get("podCIDR") else []
    for i, c in enumerate(_list(errs, spec.get("podCIDRs"), "spec.podCIDRs")):
        cidrs.append(c)
        try:
            ipaddress.ip_network(str(c), strict=False)
        except ValueError:
            errs.append(
                invalid(
                    _index("spec.podCIDRs", i),
                    c,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )
            )
    if spec.get("podCIDR"):
        try:
            ipaddress.ip_network(str(spec.get("podCIDR")), strict=False)
        except ValueError:
            errs.append(
                invalid(
                    "spec.podCIDR",
                    spec.get("podCIDR"),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )
            )
    status = _dict(errs, obj.get("status"), "status")
    for which in ("capacity", "allocatable"):
        wpath = _child("status", which)
        for name, raw in _dict(errs, status.get(which), wpath).items():
            try:
                if isinstance(raw, bool):
                    raise QuantityError("must be a quantity")
                if parse_quantity(raw) < 0:
                    errs.append(invalid(_key(wpath, str(name)), raw, _NONNEG))
            except QuantityError as e:
                errs.append(invalid(_key(wpath, str(name)), raw, str(e)))
    return errs


def _validate_namespace(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    for f in _list(errs, spec.get("finalizers"), "spec.finalizers"):
        for m in is_qualified_name(str(f)):
            errs.append(invalid("spec.finalizers", f, m))
    return errs


def _validate_event(obj: JSON) -> Errs:
    errs: Errs = []
    ns = str(_get(obj, "metadata", "namespace") or "")
    inv = _dict(errs, obj.get("involvedObject"), "involvedObject")
    inv_ns = str(inv.get("namespace") or "")
    if not obj.get("eventTime"):
        if not inv_ns:
            if ns not in ("", "default"):
                errs.append(
                    invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
                )
        elif ns != inv_ns:
            errs.append(
                invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
            )
    else:
        if not inv_ns and ns not in ("default", "kube-system"):
            errs.append(
                invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
            )
        rc = str(obj.get("reportingComponent") or "")
        if not rc:
            errs.append(required("reportingComponent"))
        else:
            for m in is_qualified_name(rc):
                errs.append(invalid("reportingComponent", rc, m))
        ri = str(obj.get("reportingInstance") or "")
        if not ri:
            errs.append(required("reportingInstance"))
        elif len(ri) > 128:
            errs.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        for f, limit in (("action", 128), ("reason", 128)):
            v = str(obj.get(f) or "")
            if not v:
                errs.append(required(f))
            elif len(v) > limit:
                errs.append(invalid(f, "", f"can have at most {limit} characters"))
        if len(str(obj.get("message") or "")) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    # core/v1 keeps legacy leniency: no checks on type, count or the old-style fields.
    return errs


def _validate_lease(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    d = _int(errs, spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
    _nonneg(errs, spec.get("leaseTransitions"), "spec.leaseTransitions")
    _str(errs, spec.get("holderIdentity"), "spec.holderIdentity")
    return errs


def _validate_binding(obj: JSON) -> Errs:
    errs: Errs = []
    target = _dict(errs, obj.get("target"), "target")
    kind = target.get("kind")
    if kind and kind != "Node":
        errs.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs


def _validate_scale(obj: JSON) -> Errs:
    errs: Errs = []
    spec = _dict(errs, obj.get("spec"), "spec")
    _nonneg(errs, spec.get("replicas"), "spec.replicas")
    return errs


# ---- ConfigMap and Secret -------------------------------------------------------

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, also the limit of a ConfigMap


def _too_big(path: str) -> FieldError:
    return FieldError(path, TOO_LONG, f"must have at most {MAX_SECRET_SIZE} bytes")


def decode_bytes(value: str) -> bytes | None:
    """A Go ``[]byte`` JSON value: standard base64, padded; None when it is not."""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _data_map(errs: Errs, value: Any, path: str, *, as_bytes: bool) -> dict[str, int]:
    """Checks the keys (and base64 values) of a data map; key -> value size in bytes."""
    sizes: dict[str, int] = {}
    for k, v in _dict(errs, value, path).items():
        kp = _key(path, str(k))
        for m in is_config_map_key(str(k)):
            errs.append(invalid(kp, k, m))
        if not isinstance(v, str):
            errs.append(invalid(kp, v, "must be a string"))
            continue
        if as_bytes:
            raw = decode_bytes(v)
            if raw is None:
                errs.append(invalid(kp, "<value omitted>", "illegal base64 data"))
                continue
            sizes[str(k)] = len(raw)
        else:
            sizes[str(k)] = len(v.encode())
    return sizes


def _validate_configmap(obj: JSON) -> Errs:
    errs: Errs = []
    data = _data_map(errs, obj.get("data"), "data", as_bytes=False)
    binary = _data_map(errs, obj.get("binaryData"), "binaryData", as_bytes=True)
    for k in data:
        if k in binary:
            errs.append(invalid(_key("data", k), k, "duplicate of key present in binaryData"))
    if sum(data.values()) + sum(binary.values()) > MAX_SECRET_SIZE:
        errs.append(_too_big(""))
    return errs


def _validate_secret(obj: JSON) -> Errs:
    errs: Errs = []
    data = _data_map(errs, obj.get("data"), "data", as_bytes=True)
    if sum(data.values()) > MAX_SECRET_SIZE:
        errs.append(_too_big("data"))
    typ = _str(errs, obj.get("type"), "type")
    given = obj.get("data")
    raw: JSON = given if isinstance(given, Mapping) else {}
    # The keys the well-known types need (ValidateSecret); other types are free-form.
    if typ == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in raw:
                errs.append(required(_key("data", k)))
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in raw and "password" not in raw:
            errs += [required(_key("data", "username")), required(_key("data", "password"))]
    elif typ == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(_key("data", "ssh-privatekey")))
    elif typ in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"):
        k = ".dockerconfigjson" if typ.endswith("json") else ".dockercfg"
        v = raw.get(k)
        if v is None or data.get(k) == 0:
            errs.append(required(_key("data", k)))
        else:
            try:
                json.loads(decode_bytes(str(v)) or b"")
            except ValueError as e:
                errs.append(invalid(_key("data", k), "<secret contents redacted>", str(e)))
    return errs


_KIND_VALIDATORS: dict[str, Callable[[JSON], Errs]] = {
    "Pod": _validate_pod,
    "Deployment": _validate_deployment,
    "ReplicaSet": _validate_replicaset,
    "Node": _validate_node,
    "Namespace": _validate_namespace,
    "Event": _validate_event,
    "Lease": _validate_lease,
    "Binding": _validate_binding,
    "Scale": _validate_scale,
    "ConfigMap": _validate_configmap,
    "Secret": _validate_secret,
}


def validate(kind: str, obj: Mapping[str, Any]) -> list[FieldError]:
    """Every problem with ``obj`` (a wire dict of ``kind``), in Kubernetes' terms."""
    if not isinstance(obj, Mapping):
        return [invalid("", obj, "must be an object")]
    errs = validate_object_meta(obj.get("metadata"), kind)
    fn = _KIND_VALIDATORS.get(kind)
    if fn is not None:
        errs += fn(obj)
    return errs


# ---- updates ------------------------------------------------------------------

_IMMUTABLE = "field is immutable"
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def _meta_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    for f in ("name", "namespace", "uid", "creationTimestamp"):
        o, n = _get(old, "metadata", f), _get(new, "metadata", f)
        # An unset value in the new object means "keep"; the server copies it over.
        if n not in (None, "") and o not in (None, "") and n != o:
            errs.append(invalid(f"metadata.{f}", n, _IMMUTABLE))
    return errs


def _pod_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    os_ = dict(_dict([], _get(old, "spec"), "spec"))
    ns = dict(_dict([], _get(new, "spec"), "spec"))
    oc = _list([], os_.get("containers"), "")
    nc = _list([], ns.get("containers"), "")
    if len(oc) != len(nc):
        return [forbidden("spec.containers", "pod updates may not add or remove containers")]
    oi = _list([], os_.get("initContainers"), "")
    ni = _list([], ns.get("initContainers"), "")
    if len(oi) != len(ni):
        return [forbidden("spec.initContainers", "pod updates may not add or remove containers")]

    # Activedeadline: may be set, or lowered, never raised or removed.
    new_ads, old_ads = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if new_ads is not None:
        if not isinstance(new_ads, int) or not 0 <= new_ads <= _INT32_MAX:
            return [
                invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    f"must be between 0 and {_INT32_MAX}, inclusive",
                )
            ]
        if isinstance(old_ads, int) and old_ads < new_ads:
            return [
                invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    "must be less than or equal to previous value",
                )
            ]
    elif old_ads is not None:
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )

    # Compare the rest with the allowed changes masked out.
    def mask(spec: dict[str, Any], images_from: dict[str, Any]) -> dict[str, Any]:
        out = dict(spec)
        for key in ("containers", "initContainers"):
            cs = [dict(c) if isinstance(c, Mapping) else c for c in _list([], out.get(key), "")]
            src = _list([], images_from.get(key), "")
            for i, c in enumerate(cs):
                if isinstance(c, dict) and i < len(src) and isinstance(src[i], Mapping):
                    c["image"] = src[i].get("image")
            if key in out:
                out[key] = cs
        out.pop("activeDeadlineSeconds", None)
        out.pop("tolerations", None)
        out.pop("schedulingGates", None)
        return out

    masked_new = mask(ns, os_)
    masked_old = mask(os_, os_)
    # nodeName may go from unset to set (binding); once set it is fixed.
    if not os_.get("nodeName"):
        masked_new.pop("nodeName", None)
        masked_old.pop("nodeName", None)
    # terminationGracePeriodSeconds may go from negative to 1.
    otg, ntg = os_.get("terminationGracePeriodSeconds"), ns.get("terminationGracePeriodSeconds")
    if isinstance(otg, int) and otg < 0 and ntg == 1:
        masked_new["terminationGracePeriodSeconds"] = otg
    if masked_new != masked_old:
        changed = sorted(
            k for k in set(masked_new) | set(masked_old) if masked_new.get(k) != masked_old.get(k)
        )
        errs.append(
            forbidden(
                "spec",
                POD_UPDATE_FORBIDDEN + f" (changed: {', '.join('spec.' + c for c in changed)})",
            )
        )

    # Scheduling gates: only removals (releasing a gated pod to the scheduler).
    old_gates = _list([], os_.get("schedulingGates"), "")
    for i, gate in enumerate(_list([], ns.get("schedulingGates"), "")):
        if gate not in old_gates:
            name = gate.get("name") if isinstance(gate, Mapping) else gate
            errs.append(
                forbidden(
                    f"spec.schedulingGates[{i}]",
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )

    # Tolerations: only additions.
    old_tols = _list([], os_.get("tolerations"), "")
    new_tols = _list([], ns.get("tolerations"), "")
    missing = [t for t in old_tols if t not in new_tols]
    if missing:
        errs.append(
            forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            )
        )
    return errs


def _selector_update(old: JSON, new: JSON) -> Errs:
    o, n = _get(old, "spec", "selector"), _get(new, "spec", "selector")
    if o is not None and n != o:
        return [invalid("spec.selector", n, _IMMUTABLE)]
    return []


def _node_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    for f, alias in (("podCIDR", "podCIDRs"), ("providerID", "providerID")):
        o, n = _get(old, "spec", f), _get(new, "spec", f)
        if o and n != o:
            errs.append(
                forbidden(
                    f"spec.{alias}", f'node updates may not change {f} except from "" to valid'
                )
            )
    o_cidrs, n_cidrs = _get(old, "spec", "podCIDRs"), _get(new, "spec", "podCIDRs")
    if o_cidrs and n_cidrs != o_cidrs and not any(e.field == "spec.podCIDRs" for e in errs):
        errs.append(
            forbidden(
                "spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'
            )
        )
    return errs


_IMMUTABLE_SET = "field is immutable when `immutable` is set"


def _immutable_data(old: JSON, new: JSON, fields: tuple[str, ...]) -> Errs:
    if old.get("immutable") is not True:
        return []
    errs: Errs = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", _IMMUTABLE_SET))
    for f in fields:
        # An absent map and an empty one are the same object in Go.
        if (old.get(f) or {}) != (new.get(f) or {}):
            errs.append(forbidden(f, _IMMUTABLE_SET))
    return errs


def _configmap_update(old: JSON, new: JSON) -> Errs:
    return _immutable_data(old, new, ("data", "binaryData"))


def _secret_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    if (old.get("type") or "") != (new.get("type") or ""):
        errs.append(invalid("type", new.get("type"), _IMMUTABLE))
    # stringData is already merged into data by now, as in Kubernetes.
    return errs + _immutable_data(old, new, ("data",))


_UPDATE_VALIDATORS: dict[str, Callable[[JSON, JSON], Errs]] = {
    "Pod": _pod_update,
    "Deployment": _selector_update,
    "ReplicaSet": _selector_update,
    "Node": _node_update,
    "ConfigMap": _configmap_update,
    "Secret": _secret_update,
}


def validate_update(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """Errors for changes Kubernetes forbids on update (immutable fields) only."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [invalid("", new, "must be an object")]
    errs = _meta_update(old, new)
    fn = _UPDATE_VALIDATORS.get(kind)
    if fn is not None:
        errs += fn(old, new)
    return errs
