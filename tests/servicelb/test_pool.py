"""The servicelb controller's address pool (pure): lowest free first, 127.0.0.1 never,
claims of addresses held elsewhere refused, freed addresses handed out again."""

from __future__ import annotations

import pytest

from controllers.servicelb import LoopbackPool, RangeError, parse_range


def test_lowest_first_freed_reused_and_full() -> None:
    pool = LoopbackPool("127.0.240.0/30")  # .1 and .2 (no network or broadcast address)
    assert pool.allocate("ns/a") == "127.0.240.1"
    assert pool.allocate("ns/a") == "127.0.240.1"  # what it holds
    assert pool.allocate("ns/b") == "127.0.240.2"
    assert pool.allocate("ns/c") is None
    assert pool.release("ns/a") == "127.0.240.1"
    assert pool.allocate("ns/c") == "127.0.240.1"
    assert pool.release("ns/nobody") is None


def test_claims() -> None:
    pool = LoopbackPool("127.0.240.0/24")
    assert pool.claim("ns/a", "127.0.240.9")
    assert not pool.claim("ns/b", "127.0.240.9")  # held by another
    assert not pool.claim("ns/b", "127.0.241.1")  # outside the range
    assert not pool.claim("ns/b", "127.0.240.0") and not pool.claim("ns/b", "127.0.240.255")
    assert pool.claim("ns/a", "127.0.240.7")  # moves: .9 is free again
    assert pool.holder("127.0.240.9") is None and pool.by_key["ns/a"] == "127.0.240.7"
    assert not pool.claim("ns/a", "not-an-ip")


def test_localhost_never_handed_out() -> None:
    pool = LoopbackPool("127.0.0.0/30")
    assert not pool.contains("127.0.0.1") and not pool.claim("ns/a", "127.0.0.1")
    assert pool.allocate("ns/a") == "127.0.0.2"
    assert pool.allocate("ns/b") is None
    assert LoopbackPool("127.0.9.9/32").allocate("ns/a") == "127.0.9.9"


@pytest.mark.parametrize("bad", ["10.0.0.0/8", "0.0.0.0/0", "::1/128", "127.0.0.1/32", "x"])
def test_ranges_outside_loopback_refused(bad: str) -> None:
    with pytest.raises(RangeError):
        parse_range(bad)
