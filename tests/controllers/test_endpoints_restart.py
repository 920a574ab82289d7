"""The Endpoints and EndpointSlice controllers across controller-manager restarts, and
--endpoint-updates-batch-period measured: each test starts its own controller-manager
processes (test_endpoints runs one for its whole module)."""

from __future__ import annotations

import json
import time

import pytest

from api import wellknown as wk
from api.models import Endpoints, Service
from api.models.discovery import EndpointSlice
from client import AsyncClient
from client.informer import Informer
from testing.objects import new_namespace
from testing.support import async_wait_for
from tests.controllers.endpoints_helpers import (
    endpoints,
    ready_ips,
    run_pods,
    service,
    slice_ips,
    slices_of,
    when,
)
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(180)

PODS = 60


async def _measure(server_url: str, batch: str) -> dict[str, float]:
    cm = start_controller_manager(server_url, "--controllers=endpointslice",
                                  f"--endpoint-updates-batch-period={batch}",
                                  name=f"cm-batch-{batch}")
    try:
        async with AsyncClient(server_url) as client:
            ns = await new_namespace(client, "epb")
            await client.create(service("web", selector={"app": "web"}), ns)
            inf: Informer[EndpointSlice] = Informer(
                client, EndpointSlice, ns, label_selector=f"{wk.LABEL_SERVICE_NAME}=web")
            writes = [0]
            inf.add_handler(lambda _s: writes.__setitem__(0, writes[0] + 1),
                            lambda _o, _n: writes.__setitem__(0, writes[0] + 1), None)
            await inf.start()
            try:
                await async_wait_for(lambda: len(inf.store) == 1, timeout=20,
                                     message="the placeholder slice")
                writes[0] = 0
                t0 = time.perf_counter()
                ips = await run_pods(client, ns, [f"p{i}" for i in range(PODS)])
                await async_wait_for(
                    lambda: slice_ips(inf.store.list(), True) == set(ips.values()),
                    timeout=30, message=f"{PODS} ready endpoints")
                converged = time.perf_counter() - t0
            finally:
                await inf.stop()
        assert cm.alive(), cm.log_tail()
        return {"slice_writes": writes[0], "converged_s": round(converged, 3)}
    finally:
        cm.stop()


@pytest.mark.slow
async def test_batch_period_collapses_writes(server_url: str) -> None:
    """How many EndpointSlice writes 60 pods turning Ready at about the same time cost,
    and how long until the slice holds them all, without a batching window
    (Kubernetes' default) and with one."""
    at_once = await _measure(server_url, "0")
    batched = await _measure(server_url, "500ms")
    print(f"{PODS} pods Ready -> EndpointSlice writes:",
          json.dumps({"batch_0": at_once, "batch_500ms": batched}))
    # a window of 0.5 s over pods that become ready within ~1 s: a few writes, not ~one
    # per pod
    assert batched["slice_writes"] <= 6, batched
    assert batched["slice_writes"] <= at_once["slice_writes"], (at_once, batched)


async def test_restart_rewrites_nothing_and_removes_leftovers(server_url: str) -> None:
    """A restarted controller-manager leaves up-to-date slices and Endpoints as they are,
    and deletes the Endpoints of a Service deleted while it was down
    (checkLeftoverEndpoints); the garbage collector takes that Service's slices."""
    flags = ["--controllers=endpoints,endpointslice,garbagecollector"]
    async with AsyncClient(server_url) as client:
        ns = await new_namespace(client, "epr")
        cm = start_controller_manager(server_url, *flags, name="cm-ep-1")
        try:
            for name in ("keep", "gone"):
                await client.create(service(name, selector={"app": "web"}), ns)
            ips = await run_pods(client, ns, ["a", "b"])
            for name in ("keep", "gone"):
                await async_wait_for(
                    lambda n=name: when(slices_of(client, ns, n),
                                        lambda ss: slice_ips(ss, True) == set(ips.values())),
                    timeout=20, message=f"{name}'s slice")
                await async_wait_for(
                    lambda n=name: when(endpoints(client, ns, n),
                                        lambda e: ready_ips(e) == set(ips.values())),
                    timeout=20, message=f"{name}'s Endpoints")
            assert cm.alive(), cm.log_tail()
        finally:
            cm.stop()
        before = {s.metadata.name: s.metadata.resource_version
                  for s in await slices_of(client, ns, "keep")}
        ep_before = await client.get(Endpoints, "keep", ns)
        await client.delete(Service, "gone", ns)
        assert await endpoints(client, ns, "gone") is not None  # nobody to delete it yet

        cm = start_controller_manager(server_url, *flags, name="cm-ep-2")
        try:
            await async_wait_for(lambda: when(endpoints(client, ns, "gone"), lambda e: e is None),
                                 timeout=30, message="the leftover Endpoints deleted")
            await async_wait_for(lambda: when(slices_of(client, ns, "gone"), lambda ss: not ss),
                                 timeout=30, message="the leftover slices collected")
            # a Service made now is synced after the ones the restart found (a FIFO queue):
            # once its slice and Endpoints exist, "keep" has been looked at too
            await client.create(service("probe", selector={"app": "web"}), ns)
            await async_wait_for(lambda: when(slices_of(client, ns, "probe"), slice_ips),
                                 timeout=20, message="the probe's slice")
            await async_wait_for(lambda: when(endpoints(client, ns, "probe"), ready_ips),
                                 timeout=20, message="the probe's Endpoints")
            # and nothing was rewritten
            after = {s.metadata.name: s.metadata.resource_version
                     for s in await slices_of(client, ns, "keep")}
            assert after == before
            ep_after = await client.get(Endpoints, "keep", ns)
            assert ep_after.metadata.resource_version == ep_before.metadata.resource_version
            assert cm.alive(), cm.log_tail()
        finally:
            cm.stop()
