"""The check registry (k8s.io/pod-security-admission/policy/registry.go): for each level
and each policy version v1.0 .. the newest any check names, the check functions that
apply, baseline checks first then restricted ones, each group by ID; a restricted revision
drops the baseline checks it overrides. ``latest`` and versions past the newest evaluate
as the newest; ``privileged`` runs nothing.

``evaluate`` returns the aggregate (policy/checks.go AggregateCheckResults): the
forbidden reasons and details of the checks that failed, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apiserver.admission_plugins.podsecurity.api import (
    BASELINE,
    PRIVILEGED,
    RESTRICTED,
    LevelVersion,
    Version,
    v1,
)
from apiserver.admission_plugins.podsecurity.checks import (
    DEFAULT_CHECKS,
    Check,
    CheckFn,
    VersionedCheck,
)


@dataclass(frozen=True, slots=True)
class AggregateResult:
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def forbidden_reason(self) -> str:
        """``host ports, privileged``: for the namespace check's warnings."""
        return ", ".join(self.reasons)

    def forbidden_detail(self) -> str:
        """``hostPath volumes (volume "host"), host namespaces (hostPID=true)``."""
        return ", ".join(f"{r} ({d})" if d else r for r, d in zip(self.reasons, self.details,
                                                                    strict=True))


ALLOWED = AggregateResult()


class Evaluator:
    def __init__(self, checks: Sequence[Check] = DEFAULT_CHECKS,
                 emulation_version: Version | None = None) -> None:
        _validate(checks)
        self.max_version = max(c.versions[-1].minimum_version for c in checks)
        if emulation_version is not None and self.max_version < emulation_version:
            self.max_version = emulation_version
        self.baseline: dict[Version, tuple[CheckFn, ...]] = {}
        self.restricted: dict[Version, tuple[CheckFn, ...]] = {}
        ordered = sorted(c.id for c in checks if c.level == BASELINE) + \
            sorted(c.id for c in checks if c.level == RESTRICTED)
        v = v1(0)
        while v <= self.max_version:
            base: dict[str, CheckFn] = {}
            restr: dict[str, CheckFn] = {}
            overridden: set[str] = set()
            for c in checks:
                vc = _version_for(c, v)
                if vc is None:
                    continue
                if c.level == RESTRICTED:
                    restr[c.id] = vc.check
                    overridden.update(vc.overrides)
                else:
                    base[c.id] = vc.check
            restr.update({i: fn for i, fn in base.items() if i not in overridden})
            self.baseline[v] = tuple(base[i] for i in ordered if i in base)
            self.restricted[v] = tuple(restr[i] for i in ordered if i in restr)
            v = v.next_minor()

    def checks_for(self, lv: LevelVersion) -> tuple[CheckFn, ...]:
        if lv.level == PRIVILEGED:
            return ()
        version = self.max_version if self.max_version < lv.version else lv.version
        table = self.baseline if lv.level == BASELINE else self.restricted
        return table.get(version, ())

    def evaluate(self, lv: LevelVersion, meta: Mapping[str, Any] | None,
                 spec: Mapping[str, Any] | None) -> AggregateResult:
        fns = self.checks_for(lv)
        if not fns:
            return ALLOWED
        m = meta if isinstance(meta, Mapping) else {}
        s = spec if isinstance(spec, Mapping) else {}
        reasons: list[str] = []
        details: list[str] = []
        for fn in fns:
            r = fn(m, s)
            if r is not None:
                reasons.append(r[0] or "unknown forbidden reason")
                details.append(r[1])
        return AggregateResult(tuple(reasons), tuple(details)) if reasons else ALLOWED


def _version_for(c: Check, v: Version) -> VersionedCheck | None:
    """The revision of ``c`` that applies at policy version ``v`` (None before its first)."""
    found = None
    for vc in c.versions:
        if vc.minimum_version <= v:
            found = vc
    return found


def _validate(checks: Sequence[Check]) -> None:
    """validateChecks: unique IDs, known levels, strictly increasing numbered versions,
    overrides only from restricted checks of baseline ones."""
    levels: dict[str, str] = {}
    for c in checks:
        if c.id in levels:
            raise ValueError(f"multiple checks registered for ID {c.id}")
        levels[c.id] = c.level
        if c.level not in (BASELINE, RESTRICTED):
            raise ValueError(f"check {c.id}: invalid level {c.level}")
        if not c.versions:
            raise ValueError(f"check {c.id}: empty")
        prev: Version | None = None
        for vc in c.versions:
            if vc.minimum_version.latest:
                raise ValueError(f"check {c.id}: version cannot be 'latest'")
            if prev is not None and not prev < vc.minimum_version:
                raise ValueError(f"check {c.id}: versions must be strictly increasing")
            prev = vc.minimum_version
    for c in checks:
        for vc in c.versions:
            if vc.overrides and c.level != RESTRICTED:
                raise ValueError(f"check {c.id}: only restricted checks may set overrides")
            for o in vc.overrides:
                if levels.get(o, BASELINE) != BASELINE:
                    raise ValueError(f"check {c.id}: overrides {levels[o]} check {o}")
