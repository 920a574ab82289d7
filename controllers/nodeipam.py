"""The node IPAM controller: gives each Node a pod CIDR out of ``--cluster-cidr``.

Kubernetes' pkg/controller/nodeipam with the RangeAllocator
(pkg/controller/nodeipam/ipam/range_allocator.go, cidrset/cidr_set.go), on only with
``--allocate-node-cidrs`` (startNodeIpamController returns early without it):

- the cluster CIDR (``--cluster-cidr``, 10.244.0.0/16 here when allocating and unset) is
  cut into ``--node-cidr-mask-size`` subnets (/24); a Service range inside it is taken
  out first (filterOutServiceRange);
- every Node that already has ``spec.podCIDRs`` marks its subnet used as the informer
  delivers it (occupyCIDRs), so a restarted controller-manager rebuilds the bitmap from
  the Nodes and a restarted node keeps its CIDR: its Node object keeps it. Allocation runs
  only in the workers, which start after the Node cache has synced, so no subnet is handed
  out before every existing one is known;
- a Node without one gets the next free subnet (AllocateNext), written as
  ``spec.podCIDR`` and ``spec.podCIDRs`` by one strategic merge patch
  (PatchNodeCIDRs); when the patch fails the subnet is released unless the server timed
  out (then it may have gone through: a restart returns it, as Kubernetes accepts);
- a deleted Node's subnet is released (ReleaseCIDR);
- no free subnet left: the event ``CIDRNotAvailable`` on the Node ("Node X status is now:
  CIDRNotAvailable", RecordNodeStatusChange). Kubernetes tries again on the Node's next
  update; here the Node is also retried as soon as another Node's deletion frees one.

Only IPv4 or IPv6 single stack: one cluster CIDR, one subnet per Node.
"""

from __future__ import annotations

import logging

from api.models import Node
from client import AsyncClient, NotFound
from client.controller import Controller, Result
from client.errors import ApiError, Invalid
from controllers.context import ControllerContext
from controllers.nodeipam_util import CIDRRangeFull, CIDRSet, CIDRSetError, parse_cidr

log = logging.getLogger(__name__)

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_CIDR_MASK_SIZE_IPV4 = 24
DEFAULT_NODE_CIDR_MASK_SIZE_IPV6 = 64
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"
CIDR_ASSIGNMENT_FAILED = "CIDRAssignmentFailed"


def node_cidrs(node: Node) -> list[str]:
    """``spec.podCIDRs``, or ``[spec.podCIDR]`` when only the older field is set (the v1
    conversion's rule)."""
    spec = node.spec
    if spec is None:
        return []
    if spec.pod_cidrs:
        return list(spec.pod_cidrs)
    return [spec.pod_cidr] if spec.pod_cidr else []


class NodeIpamController:
    name = "nodeipam"

    # cidrUpdateWorkers: the patches are the slow part, and a burst of new Nodes (a scale-up)
    # should not wait for them one by one
    def __init__(self, ctx: ControllerContext, workers: int = 30) -> None:
        opts = ctx.options
        self.enabled = opts.allocate_node_cidrs
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self._controllers: list[Controller] = []
        # cidr -> the Nodes holding it (normally one; two when someone wrote a taken one by
        # hand, and the subnet is freed only when the last of them goes)
        self.holders: dict[str, set[str]] = {}
        # Nodes told CIDRNotAvailable, retried when a subnet is released
        self.waiting: set[str] = set()
        # name -> the CIDR patched onto it that the cache does not show yet (a reconcile
        # on the older copy must not allocate a second one)
        self.assigned: dict[str, str] = {}
        if not self.enabled:
            return
        mask = opts.node_cidr_mask_size
        cluster = parse_cidr(opts.cluster_cidr or DEFAULT_CLUSTER_CIDR)
        if not mask:
            mask = (DEFAULT_NODE_CIDR_MASK_SIZE_IPV4 if cluster.version == 4
                    else DEFAULT_NODE_CIDR_MASK_SIZE_IPV6)
        self.cidrs = CIDRSet(cluster, mask)
        if opts.service_cluster_ip_range:
            svc = parse_cidr(opts.service_cluster_ip_range)
            if svc.version == cluster.version and svc.overlaps(cluster):
                self.cidrs.occupy(svc)
                log.info("service range %s taken out of the cluster CIDR %s", svc, cluster)
        self.nodes = ctx.factory.informer(Node)
        self.controller = Controller(self.name, self.reconcile,
                                     workers=opts.workers.get(self.name, workers))
        self._controllers = [self.controller]
        self.nodes.add_handler(self._on_add, self._on_update, self._on_delete)

    @property
    def controllers(self) -> list[Controller]:
        return self._controllers

    # ---- the informer's handlers: occupy and release only ------------------------------

    def _on_add(self, node: Node) -> None:
        if node_cidrs(node):
            self._occupy(node)
        else:
            self.controller.enqueue(node.metadata.name or "")

    def _on_update(self, old: Node, node: Node) -> None:
        cidrs = node_cidrs(node)
        if cidrs and cidrs == node_cidrs(old):
            return  # a status heartbeat: its CIDR (immutable) was taken when it was set
        self._on_add(node)

    def _on_delete(self, node: Node) -> None:
        name = node.metadata.name or ""
        self.waiting.discard(name)
        freed = self._release(node)
        cidr = self.assigned.pop(name, None)
        if cidr is not None:
            freed = self._drop_reservation(name, cidr) or freed
        if freed:
            for waiting in sorted(self.waiting):
                self.controller.enqueue(waiting)

    def _occupy(self, node: Node) -> None:
        name = node.metadata.name or ""
        for idx, cidr in enumerate(node_cidrs(node)):
            try:
                net = parse_cidr(cidr)
                if idx > 0 or not self.cidrs.contains(net):
                    # occupyCIDRs: a CIDR outside the cluster CIDR (changed flags) cannot be
                    # tracked; Kubernetes stops there, this controller says so and goes on
                    raise CIDRSetError(f"cidr {cidr} is out the range of cluster cidr "
                                       f"{self.cidrs.cluster}")
            except CIDRSetError as exc:
                log.error("node %s: %s", name, exc)
                continue
            key = str(net)
            users = self.holders.setdefault(key, set())
            if name not in users:
                users.add(name)
                self.cidrs.occupy(net)
        self.waiting.discard(name)
        self.assigned.pop(name, None)

    def _release(self, node: Node) -> bool:
        """Free the Node's subnets that no other Node holds; True if any was freed."""
        name = node.metadata.name or ""
        freed = False
        for cidr in node_cidrs(node):
            try:
                key = str(parse_cidr(cidr))
            except CIDRSetError:
                continue
            users = self.holders.get(key)
            if users is None or name not in users:
                continue
            users.discard(name)
            if not users:
                del self.holders[key]
                self.cidrs.release(key)
                freed = True
                log.info("released %s of deleted node %s", key, name)
        return freed

    # ---- the workers: allocation ------------------------------------------------------

    async def reconcile(self, name: str) -> Result | None:
        node = self.nodes.store.get(name)
        if node is None:
            return None
        if node_cidrs(node):
            self._occupy(node)
            return None
        if name in self.assigned:
            return None  # patched already; the cache is behind
        try:
            net = self.cidrs.allocate_next()
        except CIDRRangeFull as exc:
            log.warning("node %s: %s", name, exc)
            self.waiting.add(name)
            # RecordNodeStatusChange
            self.recorder.event(node, "Normal", CIDR_NOT_AVAILABLE,
                                f"Node {name} status is now: {CIDR_NOT_AVAILABLE}")
            return None
        cidr = str(net)
        self.holders.setdefault(cidr, set()).add(name)
        try:
            await self.client.patch(Node, name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}},
                                    patch_type="strategic")
        except NotFound:
            self._drop_reservation(name, cidr)
            return None
        except Invalid as exc:
            # someone else set the Node's CIDR first (it is immutable once set): ours goes
            # back, and the update event occupies theirs
            log.info("node %s: podCIDR not set to %s: %s", name, cidr, exc.message)
            self._drop_reservation(name, cidr)
            return None
        except ApiError as exc:
            log.error("node %s: failed to set podCIDR %s: %s", name, cidr, exc)
            self.recorder.event(node, "Normal", CIDR_ASSIGNMENT_FAILED,
                                f"Node {name} status is now: {CIDR_ASSIGNMENT_FAILED}")
            if exc.code != 504:
                self._drop_reservation(name, cidr)
            return Result(requeue=True)
        except Exception:
            self._drop_reservation(name, cidr)
            raise
        log.info("node %s: podCIDR %s", name, cidr)
        self.waiting.discard(name)
        if node_cidrs(self.nodes.store.get(name) or node) != [cidr]:
            self.assigned[name] = cidr
        return None

    def _drop_reservation(self, name: str, cidr: str) -> bool:
        users = self.holders.get(cidr)
        if users is not None and name in users:
            users.discard(name)
            if not users:
                del self.holders[cidr]
                self.cidrs.release(cidr)
                return True
        return False
