"""DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds), on by default:
a pod created or updated without a toleration of the ``node.kubernetes.io/not-ready`` or
``node.kubernetes.io/unreachable`` NoExecute taint gets one (operator Exists, effect
NoExecute) for ``--default-not-ready-toleration-seconds`` /
``--default-unreachable-toleration-seconds`` (300 by default), so that its pods outlive a
short node outage by that long before the node lifecycle controller evicts them. A
toleration with an empty key or an empty effect already covers the taint."""

from __future__ import annotations

from typing import Any

from apiserver.admission_plugins import CREATE, UPDATE, AdmissionRequest, Plugin, register_plugin

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
DEFAULT_SECONDS = 300


def _tolerates(tolerations: list[Any], key: str) -> bool:
    return any(isinstance(t, dict) and t.get("key") in (key, "", None)
               and t.get("effect") in (NO_EXECUTE, "", None) for t in tolerations)


def default_tolerations(spec: dict[str, Any], not_ready_seconds: int,
                        unreachable_seconds: int) -> None:
    """Append the missing not-ready/unreachable tolerations to the pod ``spec``."""
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    added = []
    for key, seconds in ((NOT_READY, not_ready_seconds), (UNREACHABLE, unreachable_seconds)):
        if not _tolerates(tolerations, key):
            added.append({"key": key, "operator": "Exists", "effect": NO_EXECUTE,
                          "tolerationSeconds": seconds})
    if added:
        spec["tolerations"] = [*tolerations, *added]


class DefaultTolerationSeconds(Plugin):
    name = "DefaultTolerationSeconds"
    operations = frozenset({CREATE, UPDATE})
    resources = frozenset({"pods"})

    def __init__(self, state: Any) -> None:
        cfg = getattr(state, "config", None)
        self.not_ready = int(getattr(cfg, "default_not_ready_toleration_seconds",
                                     DEFAULT_SECONDS))
        self.unreachable = int(getattr(cfg, "default_unreachable_toleration_seconds",
                                       DEFAULT_SECONDS))

    def admit(self, req: AdmissionRequest) -> None:
        spec = (req.obj or {}).get("spec")
        if isinstance(spec, dict):
            default_tolerations(spec, self.not_ready, self.unreachable)


register_plugin(DefaultTolerationSeconds.name, DefaultTolerationSeconds)
