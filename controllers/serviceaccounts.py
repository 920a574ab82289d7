"""The ServiceAccount controllers of kube-controller-manager:

- ``serviceaccount`` (pkg/controller/serviceaccount/serviceaccounts_controller.go): a
  ``default`` ServiceAccount in every active namespace, made again if deleted;
- ``serviceaccount-token`` (tokens_controller.go): a Secret of type
  ``kubernetes.io/service-account-token`` annotated with a ServiceAccount's name gets its
  ``token`` (a legacy JWT signed with --service-account-private-key-file), ``ca.crt`` and
  ``namespace``, and the account's uid annotation; it is deleted when its account is gone.
  Off without a private key, as in Kubernetes;
- ``root-ca-cert-publisher`` (pkg/controller/certificates/rootcacertpublisher): the
  ``kube-root-ca.crt`` ConfigMap (``ca.crt`` from --root-ca-file) in every namespace, kept
  as it should be. Off without a root CA.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from api import serviceaccount as sat
from api.models import ConfigMap, Namespace, ObjectMeta, Secret
from api.models.serviceaccount import ServiceAccount
from client import AlreadyExists, AsyncClient, Conflict, NotFound
from client.cache import meta_key
from client.controller import Controller, Result
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts

log = logging.getLogger(__name__)

DEFAULT_SA = "default"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters.")
DESCRIPTION_ANNOTATION = "kubernetes.io/description"


def _active(ns: Namespace | None) -> bool:
    return ns is not None and ns.metadata.deletion_timestamp is None and \
        (ns.status is None or ns.status.phase in (None, "Active"))


class ServiceAccountsController:
    """Keeps a ``default`` ServiceAccount in every active namespace."""

    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.namespaces = ctx.factory.informer(Namespace)
        self.accounts = ctx.factory.informer(ServiceAccount)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.namespaces.add_handler(lambda ns: self.controller.enqueue(ns.metadata.name or ""),
                                    lambda _o, ns: self.controller.enqueue(
                                        ns.metadata.name or ""), None)
        self.accounts.add_handler(None, None, self._account_deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _account_deleted(self, sa: Any) -> None:
        if sa.metadata.name == DEFAULT_SA:
            self.controller.enqueue(sa.metadata.namespace or "")

    async def reconcile(self, key: str) -> Result | None:
        if not _active(self.namespaces.store.get(key)):
            return None
        if self.accounts.store.get(f"{key}/{DEFAULT_SA}") is not None:
            return None
        try:
            await self.client.create(ServiceAccount(
                metadata=ObjectMeta(name=DEFAULT_SA, namespace=key)), key)
        except AlreadyExists:
            pass
        except NotFound:
            return None  # the namespace went away
        except Exception as exc:
            if namespace_terminating(exc):
                return None
            raise
        return None


class RootCACertPublisher:
    """Keeps ``kube-root-ca.crt`` (the cluster CA) in every active namespace."""

    name = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.ca = _read(ctx.options.root_ca_file)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        if not self.ca:
            self.parts: list[Controller] = []
            return
        self.parts = [self.controller]
        self.namespaces = ctx.factory.informer(Namespace)
        self.maps = ctx.factory.informer(
            ConfigMap, field_selector=f"metadata.name={sat.ROOT_CA_CONFIGMAP}")
        self.namespaces.add_handler(lambda ns: self.controller.enqueue(ns.metadata.name or ""),
                                    lambda _o, ns: self.controller.enqueue(
                                        ns.metadata.name or ""), None)
        self.maps.add_handler(None, lambda _o, cm: self._map_changed(cm), self._map_changed)

    @property
    def controllers(self) -> list[Controller]:
        return self.parts

    def _map_changed(self, cm: Any) -> None:
        self.controller.enqueue(cm.metadata.namespace or "")

    def _want(self) -> dict[str, str]:
        return {"ca.crt": self.ca}

    async def reconcile(self, key: str) -> Result | None:
        if not _active(self.namespaces.store.get(key)):
            return None
        cm = self.maps.store.get(f"{key}/{sat.ROOT_CA_CONFIGMAP}")
        try:
            if cm is None:
                await self.client.create(ConfigMap(
                    metadata=ObjectMeta(name=sat.ROOT_CA_CONFIGMAP, namespace=key,
                                        annotations={DESCRIPTION_ANNOTATION:
                                                     ROOT_CA_DESCRIPTION}),
                    data=self._want()), key)
                return None
            ann = cm.metadata.annotations or {}
            if cm.data == self._want() and ann.get(DESCRIPTION_ANNOTATION) == \
                    ROOT_CA_DESCRIPTION:
                return None
            copy = cm.copy_deep()
            copy.data = self._want()
            copy.binary_data = None
            copy.metadata.annotations = {**ann, DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION}
            await self.client.update(copy)
        except (AlreadyExists, NotFound):
            return None
        except Exception as exc:
            if namespace_terminating(exc):
                return None
            raise
        return None


class TokensController:
    """Fills and cleans up legacy ServiceAccount token Secrets."""

    name = "serviceaccount-token"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        key = _read(ctx.options.service_account_private_key_file)
        self.signer = sat.Signer(key.encode(), sat.LEGACY_ISSUER) if key else None
        self.ca = _read(ctx.options.root_ca_file)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        if self.signer is None:
            self.parts: list[Controller] = []
            return
        self.parts = [self.controller]
        self.accounts = ctx.factory.informer(ServiceAccount)
        self.secrets = ctx.factory.informer(Secret, field_selector=f"type={sat.TOKEN_SECRET_TYPE}")
        self.secrets.add_handler(lambda s: self.controller.enqueue(meta_key(s)),
                                 lambda _o, s: self.controller.enqueue(meta_key(s)), None)
        self.accounts.add_handler(None, lambda _o, sa: self._account_changed(sa),
                                  self._account_changed)

    @property
    def controllers(self) -> list[Controller]:
        return self.parts

    def _account_changed(self, sa: Any) -> None:
        for s in self.secrets.store.list():
            ann = s.metadata.annotations or {}
            if s.metadata.namespace == sa.metadata.namespace and \
                    ann.get(sat.SA_NAME_ANNOTATION) == sa.metadata.name:
                self.controller.enqueue(meta_key(s))

    async def reconcile(self, key: str) -> Result | None:
        secret = self.secrets.store.get(key)
        if secret is None or secret.metadata.deletion_timestamp is not None:
            return None
        namespace, name = secret.metadata.namespace or "", secret.metadata.name or ""
        ann = secret.metadata.annotations or {}
        sa_name = ann.get(sat.SA_NAME_ANNOTATION) or ""
        sa = self.accounts.store.get(f"{namespace}/{sa_name}") if sa_name else None
        if sa is None:
            # Perhaps the cache is behind: ask the server before deleting anything.
            try:
                sa = await self.client.get(ServiceAccount, sa_name, namespace) \
                    if sa_name else None
            except NotFound:
                sa = None
        sa_uid = ann.get(sat.SA_UID_ANNOTATION)
        if sa is None or (sa_uid and sa_uid != sa.metadata.uid):
            try:
                await self.client.delete(Secret, name, namespace,
                                         preconditions_uid=secret.metadata.uid)
            except (NotFound, Conflict):
                pass
            return None
        data = dict(secret.data or {})
        want = {"namespace": _b64(namespace)}
        if self.ca:
            want["ca.crt"] = _b64(self.ca)
        if all(data.get(k) == v for k, v in want.items()) and data.get("token") and sa_uid:
            return None
        assert self.signer is not None
        if not data.get("token"):
            data["token"] = _b64(self.signer.sign(sat.legacy_claims(
                namespace, sat.Ref(sa.metadata.name or "", sa.metadata.uid or ""), name)))
        data.update(want)
        copy = secret.copy_deep()
        copy.data = data
        copy.metadata.annotations = {**ann, sat.SA_UID_ANNOTATION: sa.metadata.uid or ""}
        try:
            await self.client.update(copy)
        except NotFound:
            pass
        return None


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _read(path: str | None) -> str:
    if not path:
        return ""
    with open(path) as f:
        return f.read()
