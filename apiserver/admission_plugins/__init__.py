"""The admission chain, as kube-apiserver's (staging/src/k8s.io/apiserver/pkg/admission).

A request that writes goes: decode -> defaulting -> MUTATING plugins (``admit``, sync, may
change ``req.obj``) -> the strategy's validation -> VALIDATING plugins (``validate``, async,
may do I/O such as the ResourceQuota's compare-and-swap on its status) -> the storage write.
The registry (``apiserver.registry``) runs the chain for CREATE, UPDATE (status and other
subresources too, inside guaranteed_update's retry, so the object checked is the object
written), DELETE and CONNECT (exec, attach, port-forward, proxy).

Plugins register a factory by name (``register_plugin``, like authorizer modes) in their
own module, which ``apiserver.app`` imports; ``build`` turns --enable-admission-plugins /
--disable-admission-plugins into the chain, always in Kubernetes' order (``ORDER``, from
pkg/kubeapiserver/options/plugins.go AllOrderedPlugins) whatever the order of the flags.
A plugin says which requests it handles (``handles``); the chain remembers, per
(operation, resource, subresource), the plugins that do, so a request no plugin handles
costs one dict lookup.

Denials are ``apiserver.errors.ApiError``s; ``AdmissionRequest.forbidden`` words a 403 as
admission.NewForbidden does: ``pods "web-1" is forbidden: <why>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from api.resources import ResourceInfo
from apiserver import errors
from apiserver.auth import context
from apiserver.auth.user import UserInfo

JSONDict = dict[str, Any]

# The operations (the registry names them too: it does not import this package).
CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"
CONNECT = "CONNECT"


@dataclass(slots=True)
class AdmissionRequest:
    """admission.Attributes. ``obj`` is the object being written (None for DELETE and
    CONNECT); ``old`` the stored one (None for CREATE and CONNECT). For a subresource
    write (status, scale, binding, finalize...) both are the whole parent object, after
    and before the change. ``options``: CONNECT's query (exec's command...) or DELETE's
    options, as the plugin may need them."""

    operation: str
    info: ResourceInfo
    namespace: str | None
    name: str
    subresource: str | None
    obj: JSONDict | None
    old: JSONDict | None
    user: UserInfo
    dry_run: bool = False
    options: Any = None

    def forbidden(self, why: str) -> errors.ApiError:
        """admission.NewForbidden: the object's name, or its generateName before one is
        generated, or "Unknown"."""
        name = self.name
        if not name and self.obj is not None:
            md = self.obj.get("metadata") or {}
            name = md.get("name") or md.get("generateName") or ""
        return errors.forbidden(self.info, name or "Unknown", why)


class Plugin:
    """A plugin: override ``admit`` (mutating) and/or ``validate`` (validating), and
    ``handles`` to say which requests it looks at (all of its ``operations`` by default;
    ``resources``: plurals, None for every resource; subresource writes only when
    ``subresources`` names them)."""

    name: ClassVar[str] = ""
    operations: ClassVar[frozenset[str]] = frozenset({CREATE, UPDATE, DELETE, CONNECT})
    resources: ClassVar[frozenset[str] | None] = None
    subresources: ClassVar[frozenset[str]] = frozenset()

    def handles(self, operation: str, info: ResourceInfo, subresource: str | None) -> bool:
        if operation not in self.operations:
            return False
        if self.resources is not None and info.plural not in self.resources:
            return False
        return subresource is None or subresource in self.subresources

    @property
    def mutating(self) -> bool:
        return type(self).admit is not Plugin.admit

    @property
    def validating(self) -> bool:
        return type(self).validate is not Plugin.validate

    async def prepare(self) -> None:
        """Before the request's (sync) mutating phase: wait for what ``admit`` reads
        (a watch cache catching up with this server's last write of its kind)."""

    def admit(self, req: AdmissionRequest) -> None:
        """Mutating admission (admission.MutationInterface): may change ``req.obj``."""

    async def validate(self, req: AdmissionRequest) -> None:
        """Validating admission (admission.ValidationInterface): raise to deny."""


Factory = Callable[[Any], Plugin]
PLUGINS: dict[str, Factory] = {}

# AllOrderedPlugins: the chain runs plugins in this order whatever the flags' order.
ORDER: tuple[str, ...] = (
    "AlwaysAdmit", "NamespaceAutoProvision", "NamespaceLifecycle", "NamespaceExists",
    "LimitPodHardAntiAffinityTopology", "LimitRanger", "ServiceAccount", "NodeRestriction",
    "TaintNodesByCondition", "AlwaysPullImages", "ImagePolicyWebhook", "PodSecurity",
    "PodNodeSelector", "Priority", "DefaultTolerationSeconds", "PodTolerationRestriction",
    "EventRateLimit", "ExtendedResourceToleration", "DefaultStorageClass",
    "StorageObjectInUseProtection", "OwnerReferencesPermissionEnforcement",
    "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval",
    "CertificateSigning", "ClusterTrustBundleAttest", "CertificateSubjectRestriction",
    "DefaultIngressClass", "DenyServiceExternalIPs", "PodTopologyLabels",
    "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook", "ResourceQuota", "AlwaysDeny",
)
# DefaultOffAdmissionPlugins' complement: on unless --disable-admission-plugins names them
# (those of them registered here).
DEFAULT_ON: frozenset[str] = frozenset({
    "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition",
    "PodSecurity", "Priority", "DefaultTolerationSeconds", "DefaultStorageClass",
    "StorageObjectInUseProtection", "PersistentVolumeClaimResize", "RuntimeClass",
    "CertificateApproval", "CertificateSigning", "ClusterTrustBundleAttest",
    "CertificateSubjectRestriction", "DefaultIngressClass", "PodTopologyLabels",
    "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook", "ResourceQuota",
})


def register_plugin(name: str, factory: Factory) -> None:
    PLUGINS[name] = factory


def _rank(name: str) -> int:
    return ORDER.index(name) if name in ORDER else len(ORDER)


def enabled_names(enable: Sequence[str] = (), disable: Sequence[str] = ()) -> list[str]:
    """The plugins a server runs, in Kubernetes' order: the registered default-on ones
    plus ``enable`` minus ``disable``. An unknown name is a ValueError (the server does
    not start), as kube-apiserver's "admission-control plugin ... not registered"."""
    unknown = [n for n in (*enable, *disable) if n not in PLUGINS and n not in ORDER]
    if unknown:
        raise ValueError(f"unknown admission plugin(s) {unknown}; known: {sorted(PLUGINS)}")
    both = set(enable) & set(disable)
    if both:
        raise ValueError(f"admission plugin(s) {sorted(both)} both enabled and disabled")
    on = {n for n in PLUGINS if n in DEFAULT_ON} | {n for n in enable if n in PLUGINS}
    on -= set(disable)
    return sorted(on, key=lambda n: (_rank(n), n))


@dataclass(slots=True)
class Chain:
    """The plugins in order, and per (operation, resource, subresource) those that
    handle it, split into mutating and validating."""

    plugins: list[Plugin] = field(default_factory=list)
    _memo: dict[tuple[str, str, str | None],
                tuple[tuple[Plugin, ...], tuple[Plugin, ...]]] = field(default_factory=dict)

    def _for(self, operation: str, info: ResourceInfo, subresource: str | None
             ) -> tuple[tuple[Plugin, ...], tuple[Plugin, ...]]:
        key = (operation, info.plural, subresource)
        got = self._memo.get(key)
        if got is None:
            hs = [p for p in self.plugins if p.handles(operation, info, subresource)]
            got = (tuple(p for p in hs if p.mutating), tuple(p for p in hs if p.validating))
            self._memo[key] = got
        return got

    def wants(self, operation: str, info: ResourceInfo, subresource: str | None) -> bool:
        """Whether any plugin handles such a request (else skip building one)."""
        if not self.plugins:
            return False
        m, v = self._for(operation, info, subresource)
        return bool(m or v)

    def mutating_for(self, operation: str, info: ResourceInfo,
                     subresource: str | None) -> bool:
        return bool(self.plugins) and bool(self._for(operation, info, subresource)[0])

    def request(self, operation: str, info: ResourceInfo, namespace: str | None, name: str,
                subresource: str | None, obj: JSONDict | None, old: JSONDict | None,
                dry_run: bool, options: Any = None) -> AdmissionRequest:
        """A request by the user being served (``apiserver.auth.context``)."""
        return AdmissionRequest(operation, info, namespace, name, subresource, obj, old,
                                context.user(), dry_run, options)

    async def prepare(self, operation: str, info: ResourceInfo,
                      subresource: str | None) -> None:
        for p in self._for(operation, info, subresource)[0]:
            await p.prepare()

    def admit(self, req: AdmissionRequest) -> None:
        for p in self._for(req.operation, req.info, req.subresource)[0]:
            p.admit(req)

    async def validate(self, req: AdmissionRequest) -> None:
        for p in self._for(req.operation, req.info, req.subresource)[1]:
            await p.validate(req)

    def add(self, plugin: Plugin) -> None:
        """Append a plugin (tests, or code that builds a chain by hand)."""
        self.plugins.append(plugin)
        self._memo.clear()


def build(enable: Sequence[str], disable: Sequence[str], state: Any) -> Chain:
    return Chain([PLUGINS[n](state) for n in enabled_names(enable, disable)])
