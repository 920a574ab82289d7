"""The node IPAM's CIDR set: which node-sized subnets of the cluster CIDR are taken.

A port of Kubernetes' pkg/controller/nodeipam/ipam/cidrset/cidr_set.go: the cluster CIDR
cut into ``2**(node_mask - cluster_mask)`` subnets, one bit each; ``allocate_next`` scans
from the candidate after the last allocation and wraps (so a released subnet is not
handed out again at once while free ones remain after it), ``occupy`` and ``release``
mark every subnet a given CIDR overlaps (a node's /24, or a Service range that lies
inside the cluster CIDR). Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network, IPv6Network

Network = IPv4Network | IPv6Network

# clusterSubnetMaxDiff: at most 2**16 node subnets in one cluster CIDR
CLUSTER_SUBNET_MAX_DIFF = 16


class CIDRSetError(ValueError):
    pass


class CIDRRangeFull(CIDRSetError):
    """ErrCIDRRangeNoCIDRsRemaining."""


ERR_NO_CIDRS = ("CIDR allocation failed; there are no remaining CIDRs left to allocate in "
                "the accepted range")
ERR_SUBNET_TOO_BIG = "New CIDR set failed; the node CIDR size is too big"


def parse_cidr(text: str) -> Network:
    """``net.ParseCIDR``'s network: the address masked (10.244.1.7/24 -> 10.244.1.0/24)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise CIDRSetError(f"invalid CIDR address: {text}") from exc


class CIDRSet:
    def __init__(self, cluster_cidr: str | Network, node_mask_size: int) -> None:
        net = parse_cidr(cluster_cidr) if isinstance(cluster_cidr, str) else cluster_cidr
        if node_mask_size < net.prefixlen or node_mask_size > net.max_prefixlen:
            raise CIDRSetError(
                f"node CIDR mask size {node_mask_size} must be between the cluster CIDR's "
                f"{net.prefixlen} and {net.max_prefixlen}")
        if node_mask_size - net.prefixlen > CLUSTER_SUBNET_MAX_DIFF:
            raise CIDRSetError(ERR_SUBNET_TOO_BIG)
        self.cluster = net
        self.node_mask_size = node_mask_size
        self.max_cidrs = 1 << (node_mask_size - net.prefixlen)
        self._shift = net.max_prefixlen - node_mask_size
        self._base = int(net.network_address)
        self._used = bytearray(self.max_cidrs)
        self.allocated = 0
        self.next_candidate = 0

    def __repr__(self) -> str:
        return (f"CIDRSet({self.cluster}, /{self.node_mask_size}, "
                f"{self.allocated}/{self.max_cidrs} used)")

    def _block(self, index: int) -> Network:
        addr = self._base + (index << self._shift)
        return ipaddress.ip_network((addr, self.node_mask_size))

    def allocate_next(self) -> Network:
        """The next free node subnet (AllocateNext); CIDRRangeFull when none is left."""
        if self.allocated >= self.max_cidrs:
            raise CIDRRangeFull(ERR_NO_CIDRS)
        for i in range(self.max_cidrs):
            candidate = (self.next_candidate + i) % self.max_cidrs
            if not self._used[candidate]:
                self._used[candidate] = 1
                self.allocated += 1
                self.next_candidate = (candidate + 1) % self.max_cidrs
                return self._block(candidate)
        raise CIDRRangeFull(ERR_NO_CIDRS)  # pragma: no cover - the count says otherwise

    def _indices(self, cidr: Network) -> range:
        """getBeginningAndEndIndices: the node subnets ``cidr`` overlaps; an error when it
        lies outside the cluster CIDR."""
        if cidr.version != self.cluster.version or not (
                cidr.subnet_of(self.cluster) or self.cluster.subnet_of(cidr)):  # type: ignore[arg-type]
            raise CIDRSetError(f"cidr {cidr} is out the range of cluster cidr {self.cluster}")
        lo = max(int(cidr.network_address), self._base)
        hi = min(int(cidr.broadcast_address), int(self.cluster.broadcast_address))
        return range((lo - self._base) >> self._shift, ((hi - self._base) >> self._shift) + 1)

    def occupy(self, cidr: str | Network) -> None:
        """Mark the subnets of ``cidr`` as used (Occupy); idempotent."""
        for i in self._indices(parse_cidr(cidr) if isinstance(cidr, str) else cidr):
            if not self._used[i]:
                self._used[i] = 1
                self.allocated += 1

    def release(self, cidr: str | Network) -> None:
        """Mark the subnets of ``cidr`` as free (Release); idempotent."""
        for i in self._indices(parse_cidr(cidr) if isinstance(cidr, str) else cidr):
            if self._used[i]:
                self._used[i] = 0
                self.allocated -= 1

    def is_used(self, cidr: str | Network) -> bool:
        idx = self._indices(parse_cidr(cidr) if isinstance(cidr, str) else cidr)
        return all(self._used[i] for i in idx)

    def contains(self, cidr: str | Network) -> bool:
        net = parse_cidr(cidr) if isinstance(cidr, str) else cidr
        return net.version == self.cluster.version and net.subnet_of(self.cluster)  # type: ignore[arg-type]
