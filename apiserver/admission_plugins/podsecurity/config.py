"""PodSecurityConfiguration (pod-security.admission.config.k8s.io/v1, v1beta1, v1alpha1):
the cluster's default policy and the exemptions, from the PodSecurity entry of the
AdmissionConfiguration file (``--admission-control-config-file``).

Defaults: each level ``privileged`` and each version ``latest`` when unset
(SetDefaults_PodSecurityDefaults), so no file means no restriction. A configuration
that does not validate stops the server with Kubernetes' field errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apiserver.admission_plugins.podsecurity.api import (
    LevelVersion,
    ParseError,
    Policy,
    parse_level,
    parse_version,
)

GROUP = "pod-security.admission.config.k8s.io"
API_VERSIONS = (f"{GROUP}/v1", f"{GROUP}/v1beta1", f"{GROUP}/v1alpha1")
KIND = "PodSecurityConfiguration"

_MODES = ("enforce", "audit", "warn")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Configuration:
    defaults: Policy = field(default_factory=Policy)
    usernames: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()


def _strings(v: Any, path: str, errs: list[str]) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        errs.append(f"{path}: Invalid value: must be a list of strings")
        return []
    return list(v)


def _unique(items: list[str], path: str, errs: list[str], check: Any) -> frozenset[str]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        why = check(item)
        if why:
            errs.append(f'{path}[{i}]: Invalid value: "{item}": {why}')
        elif item in seen:
            errs.append(f'{path}[{i}]: Duplicate value: "{item}"')
        else:
            seen.add(item)
    return frozenset(seen)


def _namespace_name(name: str) -> str | None:
    if len(name) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL.match(name):
        return ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character "
                "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    return None


def _subdomain(name: str) -> str | None:
    if len(name) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(name):
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return None


def _username(name: str) -> str | None:
    return "username must not be empty" if name == "" else None


def load(obj: Any) -> Configuration:
    """A PodSecurityConfiguration object (decoded YAML/JSON), or None for the defaults.
    ValueError: not one, or invalid (every error, in Kubernetes' words)."""
    if obj is None:
        return Configuration()
    if not isinstance(obj, dict):
        raise ValueError("PodSecurity configuration: expected PodSecurityConfiguration")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind != KIND or api_version not in API_VERSIONS:
        raise ValueError(f"PodSecurity configuration: expected {KIND} "
                         f"({', '.join(API_VERSIONS)}), got {kind} {api_version}")
    defaults = obj.get("defaults") or {}
    exemptions = obj.get("exemptions") or {}
    if not isinstance(defaults, dict) or not isinstance(exemptions, dict):
        raise ValueError("PodSecurity invalid: defaults and exemptions must be objects")
    errs: list[str] = []
    lvs: dict[str, LevelVersion] = {}
    for mode in _MODES:
        level = str(defaults.get(mode) or "privileged")
        version = str(defaults.get(f"{mode}-version") or "latest")
        try:
            lv_level = parse_level(level)
        except ParseError as e:
            errs.append(f'defaults.{mode}: Invalid value: "{level}": {e}')
            lv_level = "restricted"
        try:
            lv_version = parse_version(version)
        except ParseError as e:
            errs.append(f'defaults.{mode}-version: Invalid value: "{version}": {e}')
            lv_version = parse_version("latest")
        lvs[mode] = LevelVersion(lv_level, lv_version)
    namespaces = _unique(_strings(exemptions.get("namespaces"), "exemptions.namespaces", errs),
                         "exemptions.namespaces", errs, _namespace_name)
    classes = _unique(_strings(exemptions.get("runtimeClasses"), "exemptions.runtimeClasses",
                               errs), "exemptions.runtimeClasses", errs, _subdomain)
    users = _unique(_strings(exemptions.get("usernames"), "exemptions.usernames", errs),
                    "exemptions.usernames", errs, _username)
    if errs:
        raise ValueError("PodSecurity invalid: " + ", ".join(errs) if len(errs) == 1
                         else "PodSecurity invalid: [" + ", ".join(errs) + "]")
    return Configuration(Policy(lvs["enforce"], lvs["audit"], lvs["warn"]), users,
                         namespaces, classes)
