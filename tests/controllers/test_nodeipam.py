"""The node IPAM controller against a real API server, in the controller-manager process:
allocation (two Nodes created at once get different subnets), a restart that keeps every
Node's CIDR and fills the gap, exhaustion (the CIDRNotAvailable event), release on deletion
(the waiting Node gets the freed subnet), the immutability of a set podCIDR, kubectl's
view of it."""

from __future__ import annotations

import asyncio

import pytest

from api.models import Event, Node
from client import AsyncClient, Invalid
from testing.kubectl import Kubectl
from testing.support import ApiServer, Process, async_wait_for, unique
from tests.cli.helpers import ok
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(180)

CLUSTER = "10.250.0.0/22"  # four /24s: small enough to run out of


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # the controller acts on every Node: keep other tests' Nodes out of its range
    return private_apiserver.url


def _ipam(server: str) -> Process:
    return start_controller_manager(server, "--controllers=nodeipam", "--allocate-node-cidrs",
                                    "--cluster-cidr", CLUSTER, "--node-cidr-mask-size", "24")


async def _node(client: AsyncClient, name: str, cidr: str | None = None) -> None:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    await client.create(Node.from_dict({"metadata": {"name": name}, "spec": spec}))


async def _cidr_of(client: AsyncClient, name: str) -> str:
    n = await client.get(Node, name)
    assert n.spec is not None
    if n.spec.pod_cidr:  # both fields, as PatchNodeCIDRs writes them
        assert n.spec.pod_cidrs == [n.spec.pod_cidr]
    return n.spec.pod_cidr or ""


async def _wait_cidr(client: AsyncClient, name: str, timeout: float = 40) -> str:
    return await async_wait_for(lambda: _cidr_of(client, name), timeout=timeout,
                                message=f"podCIDR of {name}")


async def test_allocate_restart_exhaust_release(server_url: str, client: AsyncClient,
                                                kubectl: Kubectl) -> None:
    a, b, c, d, e = (unique(f"ipam-{x}") for x in "abcde")
    await _node(client, a, "10.250.0.0/24")  # registered before the controller ever ran
    cm = _ipam(server_url)
    try:
        # two Nodes at once: no subnet twice, and not the one a already holds
        await asyncio.gather(_node(client, b), _node(client, c))
        got = {await _wait_cidr(client, b), await _wait_cidr(client, c)}
        assert got == {"10.250.1.0/24", "10.250.2.0/24"}
        assert await _cidr_of(client, a) == "10.250.0.0/24"
        out = kubectl("get", "node", b, c, "-o",
                      "jsonpath={range .items[*]}{.spec.podCIDR} {.spec.podCIDRs[0]}\n{end}")
        assert sorted(out.stdout.split("\n")[:2]) == sorted(f"{x} {x}" for x in got)
        # describe shows the allocation where kubectl does, as kubectl does
        # (the column differs: kubectl prints an empty System Info whose longest key
        # widens it, minictl leaves the section out when the node reports nothing)
        theirs = [ln.split() for ln in kubectl("describe", "node", b).stdout.splitlines()
                  if ln.startswith("PodCIDR")]
        mine = [ln.split() for ln in ok(server_url, "describe", "node", b).splitlines()
                if ln.startswith("PodCIDR")]
        assert mine == theirs and len(theirs) == 2, (mine, theirs)
    finally:
        cm.stop()
    # a Node that registers while the controller is down gets the only free subnet once
    # it is back: the bitmap is rebuilt from the Nodes, theirs stay as they are
    before = {n: await _cidr_of(client, n) for n in (a, b, c)}
    await _node(client, d)
    cm = _ipam(server_url)
    try:
        assert await _wait_cidr(client, d) == "10.250.3.0/24"
        assert {n: await _cidr_of(client, n) for n in (a, b, c)} == before
        # full: the Node is told CIDRNotAvailable and keeps no CIDR
        await _node(client, e)

        async def not_available() -> list[Event]:
            evs = await client.list(Event, "default")
            return [ev for ev in evs.items if ev.involved_object.name == e
                    and ev.reason == "CIDRNotAvailable"]

        evs: list[Event] = await async_wait_for(not_available, timeout=40,
                                                message="CIDRNotAvailable")
        assert evs[0].involved_object.kind == "Node" and evs[0].type == "Normal"
        assert evs[0].message == f"Node {e} status is now: CIDRNotAvailable"
        assert await _cidr_of(client, e) == ""
        # a deleted Node's subnet goes back, to the Node that was waiting for one
        freed = before[b]
        await client.delete(Node, b)
        assert await _wait_cidr(client, e) == freed
        # once set, a podCIDR cannot change (ValidateNodeUpdate)
        with pytest.raises(Invalid) as err:
            await client.patch(Node, e, {"spec": {"podCIDR": "10.250.9.0/24",
                                                  "podCIDRs": ["10.250.9.0/24"]}})
        assert "node updates may not change podCIDR" in err.value.message
    finally:
        cm.stop()
        for n in (a, b, c, d, e):
            try:
                await client.delete(Node, n)
            except Exception:
                pass


async def test_pod_cidr_fields_kept_in_step(client: AsyncClient) -> None:
    # the v1 conversion: podCIDRs is what is kept, podCIDR reads as its first entry
    old, new = unique("cidr-old"), unique("cidr-new")
    try:
        made = await client.create(Node.from_dict({"metadata": {"name": old},
                                                   "spec": {"podCIDR": "10.99.1.0/24"}}))
        assert made.spec is not None and made.spec.pod_cidrs == ["10.99.1.0/24"]
        made = await client.create(Node.from_dict({
            "metadata": {"name": new}, "spec": {"podCIDRs": ["10.99.2.0/24", "fd00:99::/64"]}}))
        assert made.spec is not None and made.spec.pod_cidr == "10.99.2.0/24"
        with pytest.raises(Invalid) as err:
            await client.create(Node.from_dict({
                "metadata": {"name": unique("cidr-bad")},
                "spec": {"podCIDRs": ["10.99.3.0/24", "10.99.4.0/24"]}}))
        assert "may specify no more than one CIDR for each IP family" in err.value.message
    finally:
        for n in (old, new):
            try:
                await client.delete(Node, n)
            except Exception:
                pass
