"""Controller history (pkg/controller/history and the controllers' constructHistory /
getStatefulSetRevisions): the ControllerRevisions a DaemonSet or a StatefulSet keeps of its
pod template. The pure parts (getPatch, Match, the hash, cleanupHistory) are in
``controllers.daemonset_util``; this module does the I/O both controllers share: label the
claimed revisions, find or snapshot the current one, dedupe, renumber, and count a hash
collision."""

from __future__ import annotations

from typing import TypeVar

from api.models import ObjectMeta
from api.models.apps import (
    ControllerRevision,
    DaemonSet,
    DaemonSetStatus,
    StatefulSet,
    StatefulSetStatus,
)
from client import AlreadyExists, AsyncClient, NotFound
from controllers import daemonset_util as du
from controllers.ownership import owner_reference

Owner = TypeVar("Owner", DaemonSet, StatefulSet)


async def construct_history(client: AsyncClient, owner: Owner, revs: list[ControllerRevision],
                            api_version: str, kind: str
                            ) -> tuple[ControllerRevision, list[ControllerRevision]]:
    """(the current revision, the others): the current one is snapshotted when missing,
    deduplicated (the highest revision kept) and renumbered past the others."""
    labelled: list[ControllerRevision] = []
    for rev in revs:
        if du.HASH_LABEL not in (rev.metadata.labels or {}):
            copy = rev.copy_deep()
            copy.metadata.labels = {**(copy.metadata.labels or {}),
                                    du.HASH_LABEL: copy.metadata.name or ""}
            rev = await client.update(copy)
        labelled.append(rev)
    current, old = du.split_history(owner, labelled)
    next_revision = du.max_revision(old) + 1
    if not current:
        return await snapshot(client, owner, next_revision, api_version, kind), old
    # dedupCurHistories: keep the one with the highest revision
    current.sort(key=lambda r: r.revision, reverse=True)
    cur = current[0]
    for dup in current[1:]:
        try:
            await client.delete(ControllerRevision, dup.metadata.name or "",
                                dup.metadata.namespace)
        except NotFound:
            pass
    if cur.revision < next_revision:
        copy = cur.copy_deep()
        copy.revision = next_revision
        cur = await client.update(copy)
    return cur, old


async def snapshot(client: AsyncClient, owner: Owner, revision: int, api_version: str,
                   kind: str) -> ControllerRevision:
    """A new ControllerRevision ``<owner>-<hash>`` of the owner's template; on a hash
    collision the owner's status.collisionCount goes up and the caller retries."""
    hash_ = du.template_hash(owner)
    rev = ControllerRevision(
        metadata=ObjectMeta(
            name=f"{owner.metadata.name}-{hash_}", namespace=owner.metadata.namespace,
            labels={**(owner.spec.template.metadata.labels or {}), du.HASH_LABEL: hash_},
            annotations=dict(owner.metadata.annotations) if owner.metadata.annotations
            else None,
            owner_references=[owner_reference(owner, api_version, kind)]),
        data=du.get_patch(owner), revision=revision)
    try:
        return await client.create(rev, owner.metadata.namespace)
    except AlreadyExists:
        pass
    existing = await client.get(ControllerRevision, rev.metadata.name or "",
                                owner.metadata.namespace)
    ref = existing.metadata.owner_references or []
    if any(r.uid == owner.metadata.uid and r.controller for r in ref) and \
            du.matches(owner, existing):
        return existing
    # a hash collision: count it and try again with another name
    if owner.status is None:
        owner.status = DaemonSetStatus() if isinstance(owner, DaemonSet) else StatefulSetStatus()
    owner.status.collision_count = (owner.status.collision_count or 0) + 1
    await client.update_status(owner)
    raise RuntimeError(f"found a hash collision for {kind} {owner.metadata.name!r}; "
                       "will retry with the collision count bumped")
