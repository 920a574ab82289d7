"""DefaultIngressClass (plugin/pkg/admission/network/defaultingressclass): an Ingress
created without spec.ingressClassName (nor the deprecated kubernetes.io/ingress.class
annotation) gets the default IngressClass (annotation
ingressclass.kubernetes.io/is-default-class "true"; the newest of several)."""

from __future__ import annotations

from typing import Any

from api import resources as api_resources
from api.models.networking import DEFAULT_INGRESS_CLASS_ANNOTATION, INGRESS_CLASS_ANNOTATION
from apiserver.admission_plugins import CREATE, AdmissionRequest, Plugin, register_plugin
from apiserver.registry import Registry

JSONDict = dict[str, Any]


def default_ingress_class(classes: list[JSONDict]) -> JSONDict | None:
    """getDefaultClass: of the classes annotated default, the newest (then by name)."""
    defaults = []
    for c in classes:
        ann = (c.get("metadata") or {}).get("annotations") or {}
        if isinstance(ann, dict) and ann.get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true":
            defaults.append(c)
    if not defaults:
        return None
    return max(defaults, key=lambda c: (str((c.get("metadata") or {}).get(
        "creationTimestamp") or ""), str((c.get("metadata") or {}).get("name") or "")))


class DefaultIngressClass(Plugin):
    name = "DefaultIngressClass"
    operations = frozenset({CREATE})
    resources = frozenset({"ingresses"})

    def __init__(self, state: Any) -> None:
        self.state = state

    async def prepare(self) -> None:
        reg: Registry = self.state.registry
        await reg.fresh_cache(api_resources.INGRESSCLASSES, 1.0)

    def admit(self, req: AdmissionRequest) -> None:
        ing = req.obj
        if ing is None:
            return
        spec = ing.get("spec")
        ann = (ing.get("metadata") or {}).get("annotations") or {}
        if not isinstance(spec, dict) or spec.get("ingressClassName") is not None or \
                (isinstance(ann, dict) and INGRESS_CLASS_ANNOTATION in ann):
            return
        reg: Registry = self.state.registry
        cache = reg.cache(api_resources.INGRESSCLASSES)
        found = default_ingress_class([co.obj for co in cache.objects.values()])
        if found is not None:
            spec["ingressClassName"] = (found.get("metadata") or {}).get("name")


register_plugin(DefaultIngressClass.name, DefaultIngressClass)
