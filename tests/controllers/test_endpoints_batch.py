"""--endpoint-updates-batch-period, measured: how many EndpointSlice writes 60 pods turning
Ready at about the same time cost, and how long until the slice holds them all, without
a batching window (Kubernetes' default) and with one."""

from __future__ import annotations

import json
import time

import pytest

from api import wellknown as wk
from api.models.discovery import EndpointSlice
from client import AsyncClient
from client.informer import Informer
from testing.objects import new_namespace
from testing.support import async_wait_for
from tests.controllers.endpoints_helpers import run_pods, service, slice_ips
from tests.controllers.helpers import start_controller_manager

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

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


async def test_batch_period_collapses_writes(server_url: str) -> None:
    at_once = await _measure(server_url, "0")
    batched = await _measure(server_url, "500ms")
    print(f"{PODS} pods Ready -> EndpointSlice writes:",
          json.dumps({"batch_0": at_once, "batch_500ms": batched}))
    # a window of 0.5 s over pods that become ready within ~1 s: a few writes, not ~one
    # per pod
    assert batched["slice_writes"] <= 6, batched
    assert batched["slice_writes"] <= at_once["slice_writes"], (at_once, batched)
