"""Bootstrap tokens' controllers (pkg/controller/bootstrap):

- ``bootstrapsigner``: the kube-public/cluster-info ConfigMap carries, for every
  bootstrap token Secret with usage-bootstrap-signing "true" that has not expired, the key
  ``jws-kubeconfig-<token-id>``: a detached HS256 JWS of its ``kubeconfig`` keyed by the
  token secret; stale signatures are removed;
- ``tokencleaner``: a bootstrap token Secret is deleted once its expiration has passed.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging

from api import bootstraptoken as bt
from api.models import ConfigMap, Secret
from api.timeutil import parse_time_or_none
from client import AsyncClient, NotFound
from client.cache import meta_key
from client.controller import Controller, Result
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

CLUSTER_INFO_KEY = f"{bt.CLUSTER_INFO_NAMESPACE}/{bt.CLUSTER_INFO}"


def secret_data(secret: Secret, key: str) -> str:
    raw = (secret.data or {}).get(key)
    if not raw:
        return ""
    try:
        return base64.b64decode(raw).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def expiration(secret: Secret) -> datetime.datetime | None:
    return parse_time_or_none(secret_data(secret, bt.EXPIRATION) or None)


def is_expired(secret: Secret, now: datetime.datetime | None = None) -> bool:
    exp = expiration(secret)
    return exp is not None and (now or datetime.datetime.now(datetime.UTC)) >= exp


def signing_tokens(secrets: list[Secret]) -> dict[str, str]:
    """token id -> token secret of the valid signing tokens (validateSecretForSigning)."""
    out: dict[str, str] = {}
    for s in secrets:
        if s.type != bt.SECRET_TYPE or s.metadata.deletion_timestamp:
            continue
        tid, sec = secret_data(s, bt.TOKEN_ID), secret_data(s, bt.TOKEN_SECRET)
        if s.metadata.name != bt.SECRET_PREFIX + tid or not tid or not sec:
            continue
        if secret_data(s, bt.USAGE_PREFIX + "signing") != "true" or is_expired(s):
            continue
        out[tid] = sec
    return out


class BootstrapSignerController:
    name = "bootstrapsigner"

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.client: AsyncClient = ctx.client
        self.maps = ctx.factory.informer(
            ConfigMap, bt.CLUSTER_INFO_NAMESPACE,
            field_selector=f"metadata.name={bt.CLUSTER_INFO}")
        self.secrets = ctx.factory.informer(Secret, bt.NAMESPACE,
                                            field_selector=f"type={bt.SECRET_TYPE}")
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))

        def poke(*_: object) -> None:
            self.controller.enqueue(CLUSTER_INFO_KEY)
        self.maps.add_handler(poke, poke, None)
        self.secrets.add_handler(poke, poke, poke)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    async def reconcile(self, key: str) -> Result | None:
        cm = self.maps.store.get(CLUSTER_INFO_KEY)
        if cm is None:
            return None
        content = (cm.data or {}).get(bt.KUBECONFIG_KEY)
        if not content:
            return None
        tokens = signing_tokens(list(self.secrets.store.list()))
        want = {bt.JWS_PREFIX + tid: bt.detached_jws(content, tid, sec)
                for tid, sec in tokens.items()}
        data = dict(cm.data or {})
        have = {k: v for k, v in data.items() if k.startswith(bt.JWS_PREFIX)}
        next_expiry = min((e for s in self.secrets.store.list()
                           if (e := expiration(s)) is not None and not is_expired(s)),
                          default=None)
        requeue = None if next_expiry is None else Result(requeue_after=max(
            1.0, (next_expiry - datetime.datetime.now(datetime.UTC)).total_seconds()))
        if have == want:
            return requeue
        for k in have:
            data.pop(k)
        data.update(want)
        copy = cm.copy_deep()
        copy.data = data
        try:
            await self.client.update(copy)
        except NotFound:
            return None
        log.info("cluster-info signed for %d token(s)", len(want))
        return requeue


class TokenCleanerController:
    name = "tokencleaner"

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.client: AsyncClient = ctx.client
        self.secrets = ctx.factory.informer(Secret, bt.NAMESPACE,
                                            field_selector=f"type={bt.SECRET_TYPE}")
        self.controller = Controller(self.name, self.reconcile,
                                     workers=ctx.options.workers.get(self.name, workers))
        self.secrets.add_handler(lambda s: self.controller.enqueue(meta_key(s)),
                                 lambda _o, s: self.controller.enqueue(meta_key(s)), None)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    async def reconcile(self, key: str) -> Result | None:
        s = self.secrets.store.get(key)
        if s is None:
            return None
        exp = expiration(s)
        if exp is None:
            return None
        left = (exp - datetime.datetime.now(datetime.UTC)).total_seconds()
        if left > 0:
            return Result(requeue_after=left)
        try:
            await self.client.delete(Secret, s.metadata.name or "", bt.NAMESPACE,
                                     preconditions_uid=s.metadata.uid)
            log.info("deleted expired bootstrap token secret %s", key)
        except NotFound:
            pass
        return None
