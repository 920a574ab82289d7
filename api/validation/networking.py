"""Ingresses and IngressClasses: pkg/apis/networking/validation (ValidateIngressCreate,
ValidateIngressSpec, validateIngressBackend, ValidateIngressClass), in its words."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from api.models.networking import (
    INGRESS_CLASS_ANNOTATION,
    PATH_TYPE_EXACT,
    PATH_TYPE_IMPLEMENTATION_SPECIFIC,
    PATH_TYPE_PREFIX,
)
from api.names import (
    DNS1123_SUBDOMAIN_FMT,
    DNS1123_SUBDOMAIN_MAX_LENGTH,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_valid_path_segment_name,
    is_valid_port_name,
    is_valid_port_num,
    max_len_error,
    regex_error,
)
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    as_str,
    child,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)

WILDCARD_DNS1123_SUBDOMAIN_FMT = r"\*\." + DNS1123_SUBDOMAIN_FMT
_WILDCARD_RE = re.compile(f"^{WILDCARD_DNS1123_SUBDOMAIN_FMT}$")
_WILDCARD_ERR = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                 "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                 "'.' and end with an alphanumeric character")
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")
SUPPORTED_PATH_TYPES = sorted((PATH_TYPE_EXACT, PATH_TYPE_IMPLEMENTATION_SPECIFIC,
                               PATH_TYPE_PREFIX))
_MAX_LEN_CONTROLLER = 250
_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_HTTP_PATH_RE = re.compile(f"^{_HTTP_PATH_FMT}$")
PARAMETER_SCOPES = ["Cluster", "Namespace"]


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """validation.IsWildcardDNS1123Subdomain."""
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _WILDCARD_RE.match(value):
        errs.append(regex_error(_WILDCARD_ERR, WILDCARD_DNS1123_SUBDOMAIN_FMT, "*.example.com"))
    return errs


def _host_errors(host: str) -> list[str]:
    if "*" in host:
        return is_wildcard_dns1123_subdomain(host)
    return is_dns1123_subdomain(host)


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _typed_ref(errs: Errs, ref: JSON, path: str) -> None:
    """validateIngressTypedLocalObjectReference."""
    group = ref.get("apiGroup")
    if isinstance(group, str):
        for m in is_dns1123_subdomain(group):
            errs.append(invalid(child(path, "apiGroup"), group, m))
    for f in ("kind", "name"):
        v = as_str(errs, ref.get(f), child(path, f))
        if not v:
            errs.append(required(child(path, f), f"{f} is required"))
        else:
            for m in is_valid_path_segment_name(v):
                errs.append(invalid(child(path, f), v, m))


def validate_ingress_backend(errs: Errs, backend: Any, path: str) -> None:
    b = as_dict(errs, backend, path)
    resource, service = b.get("resource"), b.get("service")
    if resource is not None and service is not None:
        errs.append(invalid(path, "", "cannot set both resource and service backends"))
        return
    if resource is not None:
        _typed_ref(errs, as_dict(errs, resource, child(path, "resource")),
                   child(path, "resource"))
        return
    if service is None:
        errs.append(invalid(path, "", "resource or service backend is required"))
        return
    svc = as_dict(errs, service, child(path, "service"))
    name = as_str(errs, svc.get("name"), child(path, "service", "name"))
    if not name:
        errs.append(required(child(path, "service", "name")))
    else:
        for m in is_dns1035_label(name):
            errs.append(invalid(child(path, "service", "name"), name, m))
    port = as_dict(errs, svc.get("port"), child(path, "service", "port"))
    pname = as_str(errs, port.get("name"), child(path, "service", "port", "name"))
    number = port.get("number") or 0
    if pname and number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif pname:
        for m in is_valid_port_name(pname):
            errs.append(invalid(child(path, "service", "port", "name"), pname, m))
    elif number:
        if isinstance(number, int) and not isinstance(number, bool):
            for m in is_valid_port_num(number):
                errs.append(invalid(child(path, "service", "port", "number"), number, m))
    else:
        errs.append(required(path, "port name or number is required"))


def _http_path(errs: Errs, p: JSON, path: str) -> None:
    ptype = p.get("pathType")
    if ptype is None:
        errs.append(required(child(path, "pathType"), "pathType must be specified"))
        return
    value = as_str(errs, p.get("path"), child(path, "path"))
    if ptype in (PATH_TYPE_EXACT, PATH_TYPE_PREFIX):
        if not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
        if value:
            for seq in _INVALID_PATH_SEQUENCES:
                if seq in value:
                    errs.append(invalid(child(path, "path"), value, f"must not contain '{seq}'"))
            for suf in _INVALID_PATH_SUFFIXES:
                if value.endswith(suf):
                    errs.append(invalid(child(path, "path"), value, f"cannot end with '{suf}'"))
    elif ptype == PATH_TYPE_IMPLEMENTATION_SPECIFIC:
        if value and not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
    else:
        errs.append(not_supported(child(path, "pathType"), ptype, SUPPORTED_PATH_TYPES))
    validate_ingress_backend(errs, p.get("backend"), child(path, "backend"))


def _rules(errs: Errs, rules: list[Any], path: str) -> None:
    for i, r in enumerate(rules):
        rpath = f"{path}[{i}]"
        rule = as_dict(errs, r, rpath)
        host = as_str(errs, rule.get("host"), child(rpath, "host"))
        if host:
            if _is_ip(host):
                errs.append(invalid(child(rpath, "host"), host,
                                    "must be a DNS name, not an IP address"))
            for m in _host_errors(host):
                errs.append(invalid(child(rpath, "host"), host, m))
        http = rule.get("http")
        if http is None:
            continue
        hpath = child(rpath, "http")
        paths = as_list(errs, as_dict(errs, http, hpath).get("paths"), child(hpath, "paths"))
        if not paths:
            errs.append(required(child(hpath, "paths")))
        for j, p in enumerate(paths):
            ppath = f"{child(hpath, 'paths')}[{j}]"
            _http_path(errs, as_dict(errs, p, ppath), ppath)


def _tls(errs: Errs, tls: list[Any], path: str) -> None:
    for i, t in enumerate(tls):
        tpath = f"{path}[{i}]"
        item = as_dict(errs, t, tpath)
        for j, h in enumerate(as_list(errs, item.get("hosts"), child(tpath, "hosts"))):
            host = as_str(errs, h, f"{child(tpath, 'hosts')}[{j}]")
            for m in _host_errors(host):
                errs.append(invalid(f"{child(tpath, 'hosts')}[{j}]", host, m))
        secret = as_str(errs, item.get("secretName"), child(tpath, "secretName"))
        if secret:
            for m in is_dns1123_subdomain(secret):
                errs.append(invalid(child(tpath, "secretName"), secret, m))


def validate_ingress_spec(spec: JSON, path: str = "spec") -> Errs:
    errs: Errs = []
    rules = as_list(errs, spec.get("rules"), child(path, "rules"))
    if not rules and spec.get("defaultBackend") is None:
        errs.append(invalid(path, rules, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        validate_ingress_backend(errs, spec.get("defaultBackend"), child(path, "defaultBackend"))
    _rules(errs, rules, child(path, "rules"))
    _tls(errs, as_list(errs, spec.get("tls"), child(path, "tls")), child(path, "tls"))
    cls = spec.get("ingressClassName")
    if cls is not None:
        name = as_str(errs, cls, child(path, "ingressClassName"))
        for m in is_dns1123_subdomain(name):
            errs.append(invalid(child(path, "ingressClassName"), name, m))
    return errs


def validate_ingress(obj: JSON) -> Errs:
    errs: Errs = []
    errs += validate_ingress_spec(as_dict(errs, obj.get("spec"), "spec"))
    return errs + _class_annotation(obj)


def _class_annotation(obj: JSON) -> Errs:
    """ValidateIngressCreate's extra check: the deprecated class annotation and the class
    field never both (no Ingress stored can have both, so every write checks it)."""
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    spec = obj.get("spec") or {}
    if isinstance(ann, dict) and isinstance(spec, dict) and INGRESS_CLASS_ANNOTATION in ann \
            and spec.get("ingressClassName") is not None:
        return [invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}",
                        ann[INGRESS_CLASS_ANNOTATION],
                        "can not be set when the class field is also set")]
    return []


def is_domain_prefixed_path(path: str, value: str) -> Errs:
    """validation.IsDomainPrefixedPath."""
    if not value:
        return [required(path)]
    parts = value.split("/", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs: Errs = [invalid(path, parts[0], m) for m in is_dns1123_subdomain(parts[0])]
    if not _HTTP_PATH_RE.match(parts[1]):
        errs.append(invalid(path, parts[1], regex_error("Invalid path", _HTTP_PATH_FMT)))
    return errs


def validate_ingress_class(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    controller = as_str(errs, spec.get("controller"), "spec.controller")
    if len(controller) > _MAX_LEN_CONTROLLER:
        errs.append(too_long("spec.controller", _MAX_LEN_CONTROLLER))
    errs += is_domain_prefixed_path("spec.controller", controller)
    params = spec.get("parameters")
    if params is not None:
        ppath = "spec.parameters"
        p = as_dict(errs, params, ppath)
        _typed_ref(errs, p, ppath)
        scope = p.get("scope") or ""
        if scope not in PARAMETER_SCOPES:
            errs.append(not_supported(child(ppath, "scope"), scope, PARAMETER_SCOPES))
        elif scope == "Namespace":
            ns = p.get("namespace")
            if ns is None:
                errs.append(required(child(ppath, "namespace"),
                                     "`parameters.scope` is set to 'Namespace'"))
            else:
                for m in is_dns1123_label(as_str(errs, ns, child(ppath, "namespace"))):
                    errs.append(invalid(child(ppath, "namespace"), ns, m))
        elif p.get("namespace") is not None:
            errs.append(forbidden(child(ppath, "namespace"),
                                  "`parameters.scope` is set to 'Cluster'"))
    return errs


def validate_ingress_class_update(old: JSON, new: JSON) -> Errs:
    oc = (old.get("spec") or {}).get("controller")
    nc = (new.get("spec") or {}).get("controller")
    if oc != nc:
        return [invalid("spec.controller", nc, "field is immutable")]
    return []
