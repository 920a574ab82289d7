"""CronJob start delay: how long after its scheduled minute each of N CronJobs has its Job.

    .venv/bin/python bench/cronjobs.py [--cronjobs 500] [--workers 5] [--real-clock]

Starts its own etcd and API server and runs the CronJob controller in this process on an
injected clock (controllers.clock.FakeClock). N CronJobs ``*/1 * * * *`` are created and
synced (each waits on the clock for the next minute); then the clock is set to that minute
plus the controller's 100 ms requeue delta, so all N fall due at once, the worst case of a
cluster whose CronJobs share a schedule. The controller's Job informer notes when each Job appears;
the start delay of a CronJob is that moment minus the moment the clock reached the
scheduled minute (so the 100 ms delta is counted, as with a real clock). With
``--real-clock`` the controller runs on the wall clock instead and the bench waits for the
next real minute (bounded: at most about 70 s more).

Baseline, same run: a bare requeue of N keys on the same clock (a workqueue with a no-op
reconcile on as many workers): the delay from the clock reaching the due time to each
key being handed to a worker. Prints one JSON document; the goal is p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from api.models import Namespace, ObjectMeta
from api.models.batch import CronJob
from bench.stats import gather_limited, pct
from client.controller import Controller
from client.events import EventRecorder
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from controllers import cronjob_util as cu
from controllers.clock import Clock, FakeClock, RealClock
from controllers.context import ControllerContext, Options
from controllers.cronjob import CronJobController
from testing.support import ApiServer, Etcd

NS = "bench-cronjobs"


def _summary(delays: list[float], digits: int = 3) -> dict[str, float]:
    return {"p50": round(pct(delays, 50), digits), "p90": round(pct(delays, 90), digits),
            "p99": round(pct(delays, 99), digits), "max": round(max(delays), digits)}


def _cronjob(i: int) -> CronJob:
    return CronJob.from_dict({
        "metadata": {"name": f"cj-{i:04d}"},
        "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
    })


async def baseline(n: int, workers: int) -> dict[str, Any]:
    """A bare requeue: N keys due at one fake instant, a no-op reconcile on ``workers``."""
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    seen: dict[str, float] = {}
    fired = 0.0

    async def reconcile(key: str) -> None:
        seen[key] = time.perf_counter()

    ctl = Controller("baseline", reconcile, workers=workers)
    stop = asyncio.Event()
    task = asyncio.create_task(ctl.run(stop))
    for i in range(n):
        clock.add_after(ctl.queue, f"{NS}/cj-{i:04d}", 60.1)
    fired = time.perf_counter()
    clock.step(60.1)
    t0 = time.perf_counter()
    while len(seen) < n and time.perf_counter() - t0 < 30:
        await asyncio.sleep(0.005)
    stop.set()
    await task
    delays = [t - fired for t in seen.values()]
    return {"keys": n, "workers": workers, "seconds": _summary(delays, 6)}


def _cpu(pid: int | None) -> float:
    p = psutil.Process(pid)
    t = p.cpu_times()
    return float(t.user + t.system)


async def cronjobs(server: str, n: int, workers: int, real_clock: bool,
                   api_pid: int | None = None) -> dict[str, Any]:
    async with AsyncClient(server) as client:
        await client.create(Namespace(metadata=ObjectMeta(name=NS)))
        clock: Clock = RealClock() if real_clock else FakeClock(
            datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1))
        recorder = EventRecorder(client, component="cronjob-controller")
        factory = SharedInformerFactory(client)
        ctx = ControllerContext(client, factory, recorder,
                                Options(workers={"cronjob": workers}))
        ctl = CronJobController(ctx, clock=clock)
        appeared: dict[str, float] = {}
        # the controller's own Job informer tells when each Job is seen (a second watch
        # here would only add its decoding to this process)
        ctl.job_informer.add_handler(lambda j: appeared.setdefault(j.metadata.name or "",
                                                                   time.perf_counter()),
                                     None, None)
        await factory.start_all()
        await factory.wait_for_sync(30)
        gc.collect()  # as the controller-manager does once its caches are synced
        gc.freeze()
        stop = asyncio.Event()
        task = asyncio.create_task(ctl.controller.run(stop))
        t0 = time.perf_counter()
        await gather_limited(32, (client.create(_cronjob(i), NS) for i in range(n)))
        created_s = time.perf_counter() - t0
        # every CronJob synced once and waiting for its next schedule time
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline:
            synced = sum(1 for i in range(n) if ctl.cj_store.get(f"{NS}/cj-{i:04d}"))
            if synced == n and len(ctl.controller.queue) == 0 and (
                    real_clock or (isinstance(clock, FakeClock) and clock.waiting >= n)):
                break
            await asyncio.sleep(0.05)
        now = clock.now()
        minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        cpu0 = (_cpu(None), _cpu(api_pid) if api_pid else 0.0)
        if isinstance(clock, FakeClock):
            at_minute = time.perf_counter()
            clock.set(minute + timedelta(seconds=cu.NEXT_SCHEDULE_DELTA))
        else:
            at_minute = time.perf_counter() + (minute - datetime.now(UTC)).total_seconds()
        names = {f"cj-{i:04d}-{int(minute.timestamp()) // 60}" for i in range(n)}
        deadline = time.perf_counter() + (minute - now).total_seconds() + 60
        while time.perf_counter() < deadline and not names <= appeared.keys():
            await asyncio.sleep(0.02)
        cpu = (_cpu(None) - cpu0[0], (_cpu(api_pid) - cpu0[1]) if api_pid else 0.0)
        stop.set()
        await task
        await factory.stop_all()
        await recorder.close()
        got = [appeared[n_] - at_minute for n_ in names if n_ in appeared]
        return {"cronjobs": n, "workers": workers, "clock": "real" if real_clock else "fake",
                "create_cronjobs_seconds": round(created_s, 2),
                "jobs_started": len(got), "start_delay_seconds": _summary(got) if got else {},
                # CPU seconds from the scheduled minute to the last Job (the controller runs
                # in this process; with --real-clock, the wait for the minute too)
                "cpu_seconds": {"controller_process": round(cpu[0], 2),
                                "apiserver": round(cpu[1], 2)}}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    try:
        base = await baseline(args.cronjobs, args.workers)
        cj = await cronjobs(api.url, args.cronjobs, args.workers, args.real_clock,
                            api.proc.pid if api.proc else None)
    finally:
        api.stop()
        etcd.stop()
    p99 = cj["start_delay_seconds"].get("p99")
    return {"baseline_bare_requeue": base, "cronjob_controller": cj,
            "goal_p99_seconds": 1.0, "goal_met": p99 is not None and p99 <= 1.0,
            "ratio_p99_vs_baseline": round(p99 / max(base["seconds"]["p99"], 1e-6), 1)
            if p99 is not None else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cronjobs", type=int, default=500)
    p.add_argument("--workers", type=int, default=5,
                   help="CronJob controller workers (kube-controller-manager's "
                        "--concurrent-cron-job-syncs, 5 by default)")
    p.add_argument("--real-clock", action="store_true",
                   help="wait for the next real minute instead of moving a fake clock")
    args = p.parse_args()
    gc.set_threshold(50_000, 20, 50)  # the controller-manager's (controllers/main.py)
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
