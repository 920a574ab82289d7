"""Containers: what pkg/apis/core/validation/validation.go checks of each one.

``validate_container`` follows validateContainerCommon (name, image, pull policy,
ports, env, envFrom, resources, volume mounts), then what validateContainers and
validateInitContainers add: probes, and an init container's restartPolicy, where
``Always`` makes a sidecar that may have probes (validateInitContainers). Each part
is a function named after the Kubernetes function it ports.
"""

from __future__ import annotations

from typing import Any

from api.names import (
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
    is_valid_port_name,
    is_valid_port_num,
)
from api.quantity import QuantityError, canonical, parse_quantity
from api.validation.field import (
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    as_int,
    as_list,
    as_str,
    at_index,
    at_key,
    child,
    duplicate,
    forbidden,
    invalid,
    non_negative,
    not_found,
    not_supported,
    one_of,
    required,
)

PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")

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
    p = as_dict(errs, probe, path)
    handlers = 0
    for h in ("exec", "httpGet", "tcpSocket", "grpc"):
        if p.get(h) is None:
            continue
        hpath = child(path, h)
        if handlers > 0:
            errs.append(forbidden(hpath, "may not specify more than 1 handler type"))
            continue
        handlers += 1
        hd = as_dict(errs, p.get(h), hpath)
        if h == "exec":
            if not as_list(errs, hd.get("command"), child(hpath, "command")):
                errs.append(required(child(hpath, "command")))
        elif h == "httpGet":
            if hd.get("path") == "":
                errs.append(required(child(hpath, "path")))
            _port_num_or_name(errs, hd.get("port"), child(hpath, "port"))
            one_of(errs, hd.get("scheme"), child(hpath, "scheme"), ["HTTP", "HTTPS"])
        elif h == "tcpSocket":
            _port_num_or_name(errs, hd.get("port"), child(hpath, "port"))
        else:
            port = as_int(errs, hd.get("port"), child(hpath, "port"))
            if port is not None:
                for m in is_valid_port_num(port):
                    errs.append(invalid(child(hpath, "port"), port, m))
    if handlers == 0:
        errs.append(required(path, "must specify a handler type"))
    for f in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        non_negative(errs, p.get(f), child(path, f))
    st = p.get("successThreshold")
    if success_must_be_one and isinstance(st, int) and st != 1:
        errs.append(invalid(child(path, "successThreshold"), st, "must be 1"))


def _validate_resources(errs: Errs, resources: Any, path: str) -> None:
    res = as_dict(errs, resources, path)
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for which in ("limits", "requests"):
        wpath = child(path, which)
        for name, raw in as_dict(errs, res.get(which), wpath).items():
            kpath = at_key(wpath, str(name))
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
                errs.append(invalid(kpath, raw, NON_NEGATIVE))
            parsed[which][n] = (q, raw)
    for name, (req, raw) in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim[0]:
            errs.append(
                invalid(
                    child(path, "requests"),
                    canonical(raw),
                    f"must be less than or equal to {name} limit of {canonical(lim[1])}",
                )
            )


def validate_container(
    errs: Errs, c: Any, path: str, names: set[str], volumes: set[str], *, init: bool
) -> None:
    """One container (or init container, with ``init``) of a pod spec; ``names`` holds
    the container names seen so far, ``volumes`` the pod's volume names."""
    ctr = as_dict(errs, c, path)
    _container_name(errs, ctr.get("name"), child(path, "name"), names)
    _container_common(errs, ctr, path, volumes)
    _probes(errs, ctr, path, init=init)


def _container_common(errs: Errs, ctr: JSON, path: str, volumes: set[str]) -> None:
    """validateContainerCommon after the name: what every kind of container checks."""
    _image(errs, ctr.get("image"), child(path, "image"))
    one_of(errs, ctr.get("imagePullPolicy"), child(path, "imagePullPolicy"), PULL_POLICIES)
    one_of(
        errs,
        ctr.get("terminationMessagePolicy"),
        child(path, "terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
    )
    for f in ("command", "args"):
        for i, v in enumerate(as_list(errs, ctr.get(f), child(path, f))):
            if not isinstance(v, str):
                errs.append(invalid(at_index(child(path, f), i), v, "must be a string"))
    _container_ports(errs, ctr.get("ports"), child(path, "ports"))
    _env(errs, ctr.get("env"), child(path, "env"))
    _env_from(errs, ctr.get("envFrom"), child(path, "envFrom"))
    if ctr.get("resources") is not None:
        _validate_resources(errs, ctr.get("resources"), child(path, "resources"))
    _volume_mounts(errs, ctr.get("volumeMounts"), child(path, "volumeMounts"), volumes)


# EphemeralContainerCommon's fields in their order, but for allowedEphemeralContainerFields:
# set, each is Forbidden (validateFieldAllowList).
_EPHEMERAL_FORBIDDEN = ("ports", "resources", "resizePolicy", "restartPolicy",
                        "restartPolicyRules", "livenessProbe", "readinessProbe",
                        "startupProbe", "lifecycle")
_EPHEMERAL = "cannot be set for an Ephemeral Container"


def _is_set(value: Any) -> bool:
    """Not Go's zero value: ``resources: {}`` (how every container is stored) is unset."""
    if isinstance(value, dict):
        return any(v is not None for v in value.values())
    return value is not None and value != ""


def validate_ephemeral_container(errs: Errs, c: Any, path: str, all_names: set[str],
                                 other_names: set[str], volumes: set[str]) -> None:
    """validateEphemeralContainers for one: the common checks; a name unique among
    every container of the pod; a targetContainerName naming a regular or init
    container; no ports, probes, lifecycle or resources; no subPath mounts."""
    ctr = as_dict(errs, c, path)
    npath = child(path, "name")
    name = as_str(errs, ctr.get("name"), npath)
    if not name:
        errs.append(required(npath))
    else:
        for m in is_dns1123_label(name):
            errs.append(invalid(npath, name, m))
    _container_common(errs, ctr, path, volumes)
    if name in all_names:
        errs.append(duplicate(npath, name))
    else:
        all_names.add(name)
    target = ctr.get("targetContainerName")
    if target not in (None, "") and target not in other_names:
        errs.append(not_found(child(path, "targetContainerName"), target))
    for f in _EPHEMERAL_FORBIDDEN:
        if _is_set(ctr.get(f)):
            errs.append(forbidden(child(path, f), _EPHEMERAL))
    mpath = child(path, "volumeMounts")
    for i, vm in enumerate(as_list([], ctr.get("volumeMounts"), mpath)):
        if not isinstance(vm, dict):
            continue
        for f in ("subPath", "subPathExpr"):
            if vm.get(f):
                errs.append(forbidden(child(at_index(mpath, i), f), _EPHEMERAL))


def _container_name(errs: Errs, value: Any, path: str, names: set[str]) -> None:
    """A DNS label, unique among the pod's containers and init containers."""
    name = as_str(errs, value, path)
    if not name:
        errs.append(required(path))
        return
    for m in is_dns1123_label(name):
        errs.append(invalid(path, name, m))
    if name in names:
        errs.append(duplicate(path, name))
    names.add(name)


def _image(errs: Errs, value: Any, path: str) -> None:
    """Required, without surrounding whitespace (validateContainerCommon)."""
    image = as_str(errs, value, path)
    if not image:
        errs.append(required(path))
    elif image != image.strip():
        errs.append(invalid(path, image, "must not have leading or trailing whitespace"))


def _container_ports(errs: Errs, ports: Any, path: str) -> None:
    """validateContainerPorts: names unique and valid, port numbers in range, protocol."""
    port_names: set[str] = set()
    for i, p in enumerate(as_list(errs, ports, path)):
        ip = at_index(path, i)
        port = as_dict(errs, p, ip)
        pname = as_str(errs, port.get("name"), child(ip, "name"))
        if pname:
            for m in is_valid_port_name(pname):
                errs.append(invalid(child(ip, "name"), pname, m))
            if pname in port_names:
                errs.append(duplicate(child(ip, "name"), pname))
            port_names.add(pname)
        cp = as_int(errs, port.get("containerPort"), child(ip, "containerPort"))
        if not cp:
            if port.get("containerPort") is None or cp == 0:
                errs.append(required(child(ip, "containerPort")))
        else:
            for m in is_valid_port_num(cp):
                errs.append(invalid(child(ip, "containerPort"), cp, m))
        hp = as_int(errs, port.get("hostPort"), child(ip, "hostPort"))
        if hp:
            for m in is_valid_port_num(hp):
                errs.append(invalid(child(ip, "hostPort"), hp, m))
        proto = port.get("protocol")
        if proto == "":
            errs.append(required(child(ip, "protocol")))
        else:
            one_of(errs, proto, child(ip, "protocol"), PROTOCOLS)


def _env(errs: Errs, env_vars: Any, path: str) -> None:
    """validateEnv: each variable's name, and a value or one valueFrom source."""
    for i, e in enumerate(as_list(errs, env_vars, path)):
        ip = at_index(path, i)
        env = as_dict(errs, e, ip)
        ename = as_str(errs, env.get("name"), child(ip, "name"))
        if not ename:
            errs.append(required(child(ip, "name")))
        else:
            for m in is_env_var_name(ename):
                errs.append(invalid(child(ip, "name"), ename, m))
        as_str(errs, env.get("value"), child(ip, "value"))
        if env.get("value") and env.get("valueFrom") is not None:
            errs.append(
                invalid(
                    child(ip, "valueFrom"), "", "may not be specified when `value` is not empty"
                )
            )
        elif env.get("valueFrom") is not None:
            _value_from(errs, env.get("valueFrom"), child(ip, "valueFrom"))


def _volume_mounts(errs: Errs, mounts: Any, path: str, volumes: set[str]) -> None:
    """ValidateVolumeMounts: a known volume's name, and a unique mount path."""
    mount_points: set[str] = set()
    for i, vm in enumerate(as_list(errs, mounts, path)):
        ip = at_index(path, i)
        mnt = as_dict(errs, vm, ip)
        mname = as_str(errs, mnt.get("name"), child(ip, "name"))
        if not mname:
            errs.append(required(child(ip, "name")))
        if mname not in volumes:
            errs.append(not_found(child(ip, "name"), mname))
        mp = as_str(errs, mnt.get("mountPath"), child(ip, "mountPath"))
        if not mp:
            errs.append(required(child(ip, "mountPath")))
        elif mp in mount_points:
            errs.append(invalid(child(ip, "mountPath"), mp, "must be unique"))
        mount_points.add(mp)


def _probes(errs: Errs, ctr: JSON, path: str, *, init: bool) -> None:
    """validateContainers' probes; an init container may only have them as a sidecar
    (restartPolicy Always, the one value it may set: validateInitContainers)."""
    rp = ctr.get("restartPolicy")
    sidecar = init and rp == "Always"
    if init and rp is not None and rp != "Always":
        errs.append(not_supported(child(path, "restartPolicy"), rp, ["Always"]))
    if init and not sidecar:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if ctr.get(probe) is not None:
                errs.append(
                    forbidden(
                        child(path, probe),
                        "may not be set for init containers without restartPolicy=Always",
                    )
                )
        return
    _validate_probe(errs, ctr.get("livenessProbe"), child(path, "livenessProbe"), True)
    _validate_probe(errs, ctr.get("readinessProbe"), child(path, "readinessProbe"), False)
    _validate_probe(errs, ctr.get("startupProbe"), child(path, "startupProbe"), True)


def _key_selector(errs: Errs, value: Any, path: str) -> None:
    sel = as_dict(errs, value, path)
    name = as_str(errs, sel.get("name"), child(path, "name"))
    for m in is_dns1123_subdomain(name):
        errs.append(invalid(child(path, "name"), name, m))
    key = as_str(errs, sel.get("key"), child(path, "key"))
    if not key:
        errs.append(required(child(path, "key")))
    for m in is_config_map_key(key) if key else []:
        errs.append(invalid(child(path, "key"), key, m))


def _value_from(errs: Errs, value: Any, path: str) -> None:
    vf = as_dict(errs, value, path)
    sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
               if vf.get(k) is not None]
    for k in ("configMapKeyRef", "secretKeyRef"):
        if k in sources:
            _key_selector(errs, vf.get(k), child(path, k))
    _exactly_one(
        errs, sources, path, "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
    )


def _env_from(errs: Errs, value: Any, path: str) -> None:
    for i, item in enumerate(as_list(errs, value, path)):
        ip = at_index(path, i)
        ef = as_dict(errs, item, ip)
        prefix = as_str(errs, ef.get("prefix"), child(ip, "prefix"))
        if prefix:
            for m in is_env_var_name(prefix):
                errs.append(invalid(child(ip, "prefix"), prefix, m))
        sources = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        for k in sources:
            ref = as_dict(errs, ef.get(k), child(ip, k))
            name = as_str(errs, ref.get("name"), child(ip, k, "name"))
            if not name:
                errs.append(required(child(ip, k, "name")))
            for m in is_dns1123_subdomain(name) if name else []:
                errs.append(invalid(child(ip, k, "name"), name, m))
        _exactly_one(errs, sources, path, "`configMapRef` or `secretRef`")


def _exactly_one(errs: Errs, sources: list[str], path: str, choices: str) -> None:
    """One source set of ``choices`` (an env var's valueFrom, an envFrom item)."""
    if not sources:
        errs.append(invalid(path, "", f"must specify one of: {choices}"))
    elif len(sources) > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
