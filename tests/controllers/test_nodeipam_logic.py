"""The node IPAM's CIDR set (Kubernetes' cidrset tests' cases): allocation order, occupy and
release, exhaustion, ranges out of the cluster CIDR, the size limit."""

from __future__ import annotations

import pytest

from controllers.nodeipam_util import (
    ERR_NO_CIDRS,
    ERR_SUBNET_TOO_BIG,
    CIDRRangeFull,
    CIDRSet,
    CIDRSetError,
)


def test_allocates_in_order_and_wraps_after_the_last_allocation() -> None:
    s = CIDRSet("10.244.0.0/16", 24)
    assert s.max_cidrs == 256
    assert [str(s.allocate_next()) for _ in range(3)] == [
        "10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    s.release("10.244.1.0/24")
    # AllocateNext goes on from the candidate after the last one (nextCandidate)
    assert str(s.allocate_next()) == "10.244.3.0/24"
    assert s.allocated == 3


def test_occupy_skips_taken_subnets_and_release_frees_them() -> None:
    s = CIDRSet("10.244.0.0/16", 24)
    s.occupy("10.244.0.0/24")
    s.occupy("10.244.0.0/24")  # idempotent
    s.occupy("10.244.2.77/24")  # masked like net.ParseCIDR
    assert s.allocated == 2 and s.is_used("10.244.2.0/24")
    assert [str(s.allocate_next()) for _ in range(2)] == ["10.244.1.0/24", "10.244.3.0/24"]
    s.release("10.244.2.0/24")
    assert not s.is_used("10.244.2.0/24") and s.allocated == 3


def test_exhaustion_and_reuse_after_release() -> None:
    s = CIDRSet("10.250.0.0/22", 24)
    got = [str(s.allocate_next()) for _ in range(4)]
    assert got == ["10.250.0.0/24", "10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24"]
    with pytest.raises(CIDRRangeFull, match="no remaining CIDRs"):
        s.allocate_next()
    assert str(CIDRRangeFull(ERR_NO_CIDRS)).startswith("CIDR allocation failed")
    s.release("10.250.2.0/24")
    assert str(s.allocate_next()) == "10.250.2.0/24"


def test_a_wider_range_occupies_every_subnet_it_overlaps() -> None:
    # filterOutServiceRange: a Service range inside the cluster CIDR
    s = CIDRSet("10.96.0.0/12", 24)
    s.occupy("10.96.0.0/16")
    assert s.allocated == 256
    assert str(s.allocate_next()) == "10.97.0.0/24"
    # and one wider than the cluster CIDR takes all of it
    t = CIDRSet("10.244.0.0/23", 24)
    t.occupy("10.0.0.0/8")
    with pytest.raises(CIDRRangeFull):
        t.allocate_next()


def test_bad_ranges() -> None:
    s = CIDRSet("10.244.0.0/16", 24)
    with pytest.raises(CIDRSetError, match=r"out the range of cluster cidr 10\.244\.0\.0/16"):
        s.occupy("10.245.0.0/24")
    with pytest.raises(CIDRSetError, match="out the range"):
        s.occupy("fd00::/64")
    with pytest.raises(CIDRSetError, match="invalid CIDR"):
        s.occupy("10.244.0.0/99")
    with pytest.raises(CIDRSetError, match=ERR_SUBNET_TOO_BIG):
        CIDRSet("10.0.0.0/8", 25)
    with pytest.raises(CIDRSetError, match="between"):
        CIDRSet("10.244.0.0/16", 8)
    assert s.contains("10.244.9.0/24") and not s.contains("10.0.0.0/8")


def test_ipv6() -> None:
    s = CIDRSet("fd00:10:244::/56", 64)
    assert s.max_cidrs == 256
    assert str(s.allocate_next()) == "fd00:10:244::/64"
    assert str(s.allocate_next()) == "fd00:10:244:1::/64"


def test_node_pod_cidrs_validation_as_kubernetes() -> None:
    # ValidateNode: one CIDR per IP family, no duplicates, each a CIDR
    from api.validation.node import validate_node

    def errors(cidrs: list[str]) -> list[str]:
        return [str(e) for e in validate_node({"metadata": {"name": "n"},
                                               "spec": {"podCIDRs": cidrs}})]

    assert errors(["10.244.1.0/24"]) == []
    assert errors(["10.244.1.0/24", "fd00:10:244:1::/64"]) == []
    assert errors(["10.244.1.0/24", "10.244.2.0/24"]) == [
        'spec.podCIDRs: Invalid value: ["10.244.1.0/24","10.244.2.0/24"]: may specify no '
        "more than one CIDR for each IP family"]
    assert "spec.podCIDRs[1]: Duplicate value" in " ".join(
        errors(["10.244.1.0/24", "10.244.1.0/24"]))
    assert any("more than one CIDR" in e for e in errors(
        ["10.244.1.0/24", "fd00::/64", "10.244.3.0/24"]))
    assert errors(["10.244.1.0/99"]) == [
        'spec.podCIDRs[0]: Invalid value: "10.244.1.0/99": must be a valid CIDR value, '
        "(e.g. 10.9.8.0/24 or 2001:db8::/64)"]
