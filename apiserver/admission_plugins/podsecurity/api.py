"""Levels, versions and namespace policies (k8s.io/pod-security-admission/api).

A namespace's policy comes from its ``pod-security.kubernetes.io/{enforce,audit,warn}``
and ``...-version`` labels over the cluster's defaults (``policy_to_evaluate``); a label
that does not parse is an error and reads as ``restricted`` / ``latest`` for enforce,
as ``privileged`` for audit and warn (they fail open), as Kubernetes does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

PRIVILEGED = "privileged"
BASELINE = "baseline"
RESTRICTED = "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
_STRICTNESS = {PRIVILEGED: 0, BASELINE: 1, RESTRICTED: 2}

LATEST = "latest"

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LEVEL_LABEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION_LABEL = LABEL_PREFIX + "enforce-version"
AUDIT_LEVEL_LABEL = LABEL_PREFIX + "audit"
AUDIT_VERSION_LABEL = LABEL_PREFIX + "audit-version"
WARN_LEVEL_LABEL = LABEL_PREFIX + "warn"
WARN_VERSION_LABEL = LABEL_PREFIX + "warn-version"
LABELS = (ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL, AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL,
          WARN_LEVEL_LABEL, WARN_VERSION_LABEL)

# Audit annotations (each prefixed with LABEL_PREFIX when recorded).
AUDIT_ANNOTATION_PREFIX = LABEL_PREFIX
EXEMPTION_REASON_ANNOTATION = "exempt"
AUDIT_VIOLATIONS_ANNOTATION = "audit-violations"
ENFORCED_POLICY_ANNOTATION = "enforce-policy"

LEVEL_ERROR = "must be one of " + ", ".join(LEVELS)
VERSION_ERROR = 'must be "latest" or "v1.x"'


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """``v1.x`` or ``latest`` (newer than any numbered version)."""

    major: int = 0
    minor: int = 0
    latest: bool = False

    def __str__(self) -> str:
        return LATEST if self.latest else f"v{self.major}.{self.minor}"

    def __lt__(self, other: object) -> bool:  # Older
        if not isinstance(other, Version):
            return NotImplemented
        if self.latest:
            return False
        if other.latest:
            return True
        return (self.major, self.minor) < (other.major, other.minor)

    def next_minor(self) -> Version:
        return self if self.latest else Version(self.major, self.minor + 1)


LATEST_VERSION = Version(latest=True)


def v1(minor: int) -> Version:
    return Version(1, minor)


class ParseError(ValueError):
    pass


def parse_level(value: str) -> str:
    if value in _STRICTNESS:
        return value
    raise ParseError(LEVEL_ERROR)


_VERSION_RE = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


def parse_version(value: str) -> Version:
    if value == LATEST:
        return LATEST_VERSION
    m = _VERSION_RE.match(value)
    if m is None:
        raise ParseError(VERSION_ERROR)
    return Version(1, int(m.group(1)))


def compare_levels(a: str, b: str) -> int:
    """-1, 0 or 1: ``a`` less strict, as strict or stricter than ``b``."""
    x, y = _STRICTNESS.get(a, -1), _STRICTNESS.get(b, -1)
    return (x > y) - (x < y)


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: str
    version: Version

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    def equivalent(self, other: LevelVersion) -> bool:
        return (self.level == PRIVILEGED and other.level == PRIVILEGED) or self == other


PRIVILEGED_LATEST = LevelVersion(PRIVILEGED, LATEST_VERSION)


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion = PRIVILEGED_LATEST
    audit: LevelVersion = PRIVILEGED_LATEST
    warn: LevelVersion = PRIVILEGED_LATEST

    def fully_privileged(self) -> bool:
        return PRIVILEGED == self.enforce.level == self.audit.level == self.warn.level

    def equivalent(self, other: Policy) -> bool:
        return self.enforce.equivalent(other.enforce) and \
            self.audit.equivalent(other.audit) and self.warn.equivalent(other.warn)


@dataclass(frozen=True, slots=True)
class LabelError:
    """field.Invalid(metadata.labels[<label>], value, why)."""

    label: str
    value: str
    detail: str

    @property
    def field(self) -> str:
        return f"metadata.labels[{self.label}]"

    def to_cause(self) -> dict[str, Any]:
        return {"reason": "FieldValueInvalid", "field": self.field,
                "message": f'Invalid value: "{self.value}": {self.detail}'}


def policy_to_evaluate(labels: Mapping[str, Any] | None, defaults: Policy
                       ) -> tuple[Policy, list[LabelError]]:
    """api.PolicyToEvaluate: the namespace's labels over the defaults, and the label
    errors. When enforce is set to a level stricter than warn's and warn is not set,
    warn follows enforce (level, and version unless warn-version is set)."""
    if not labels:
        return defaults, []
    errs: list[LabelError] = []
    enforce, audit, warn = defaults.enforce, defaults.audit, defaults.warn
    has_enforce_level = has_warn_level = has_warn_version = False

    def level(label: str, fallback: str | None) -> str | None:
        value = str(labels[label])
        try:
            return parse_level(value)
        except ParseError as e:
            errs.append(LabelError(label, value, str(e)))
            return fallback

    def version(label: str) -> Version:
        value = str(labels[label])
        try:
            return parse_version(value)
        except ParseError as e:
            errs.append(LabelError(label, value, str(e)))
            return LATEST_VERSION

    if ENFORCE_LEVEL_LABEL in labels:
        lv = level(ENFORCE_LEVEL_LABEL, None)
        has_enforce_level = lv is not None
        enforce = LevelVersion(lv or RESTRICTED, enforce.version)
    if ENFORCE_VERSION_LABEL in labels:
        enforce = LevelVersion(enforce.level, version(ENFORCE_VERSION_LABEL))
    if AUDIT_LEVEL_LABEL in labels:
        audit = LevelVersion(level(AUDIT_LEVEL_LABEL, PRIVILEGED) or PRIVILEGED, audit.version)
    if AUDIT_VERSION_LABEL in labels:
        audit = LevelVersion(audit.level, version(AUDIT_VERSION_LABEL))
    if WARN_LEVEL_LABEL in labels:
        has_warn_level = True
        warn = LevelVersion(level(WARN_LEVEL_LABEL, PRIVILEGED) or PRIVILEGED, warn.version)
    if WARN_VERSION_LABEL in labels:
        has_warn_version = True
        warn = LevelVersion(warn.level, version(WARN_VERSION_LABEL))
    if not has_warn_level and has_enforce_level and \
            compare_levels(enforce.level, warn.level) > 0:
        warn = LevelVersion(enforce.level,
                            warn.version if has_warn_version else enforce.version)
    return Policy(enforce, audit, warn), errs
