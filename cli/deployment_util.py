"""What describe and rollout both need to know about a Deployment's ReplicaSets
(kubectl's k8s.io/kubectl/pkg/util/deployment: GetAllReplicaSets)."""

from __future__ import annotations

from api.models import Deployment, ReplicaSet
from cli.context import State


def owned_replicasets(st: State, dep: Deployment) -> list[ReplicaSet]:
    """The ReplicaSets this Deployment controls (by ownerReference uid)."""
    rs = st.client.list_all(ReplicaSet, dep.metadata.namespace or st.namespace).items
    uid = dep.metadata.uid
    return [r for r in rs if any(o.uid == uid and o.controller is not False
                                 for o in r.metadata.owner_references or [])]
