"""Admission chain cost: pod creates/s through the API server with the default admission
plugins (LimitRanger, ServiceAccount, ResourceQuota...) against the same server with
them disabled (--disable-admission-plugins), with only the ServiceAccount plugin off
("idle": the chain and its plugins present, nothing for them to do), and with a ResourceQuota and a LimitRange in
the namespace (every create then charged with a compare-and-swap on the quota and given
default resources). Rounds alternate (off, idle, on, active, off, ...) on one etcd so
a busy machine hurts all alike; prints one JSON document with the medians and ratios.

Usage: python bench/admission.py [--creates 1500] [--concurrency 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apiserver import ensure_ns, lean_creates  # noqa: E402
from testing.support import ApiServer, Etcd  # noqa: E402

OFF = ["--disable-admission-plugins", "LimitRanger,ServiceAccount,ResourceQuota"]
# The chain with LimitRanger and ResourceQuota in it but nothing for them to do (the
# ServiceAccount plugin, which adds a volume to every pod, off as in "off").
# The harness's servers run without ServiceAccount admission unless asked for it
# (testing.support.without_service_account_admission): "on" and "active" ask.
SA_ON = ["--enable-admission-plugins", "ServiceAccount"]
ARGS = {"off": OFF, "idle": ["--disable-admission-plugins", "ServiceAccount"], "on": SA_ON,
        "active": SA_ON}


async def round_(url: str, ns: str, n: int, concurrency: int, active: bool) -> float:
    async with aiohttp.ClientSession() as s:
        await ensure_ns(s, url, ns)
        # The ServiceAccount admission wants the account the serviceaccount controller
        # would have made.
        async with s.post(f"{url}/api/v1/namespaces/{ns}/serviceaccounts",
                          json={"metadata": {"name": "default"}}) as r:
            assert r.status in (201, 409), await r.text()
        if active:
            base = f"{url}/api/v1/namespaces/{ns}"
            hard = {"pods": str(n + 10), "requests.cpu": "1000"}
            async with s.post(f"{base}/resourcequotas", json={
                    "metadata": {"name": "q"}, "spec": {"hard": hard}}) as r:
                q = await r.json()
            q["status"] = {"hard": hard, "used": {"pods": "0", "requests.cpu": "0"}}
            async with s.put(f"{base}/resourcequotas/q/status", data=orjson.dumps(q),
                             headers={"Content-Type": "application/json"}) as r:
                assert r.status == 200, await r.text()
            async with s.post(f"{base}/limitranges", json={
                    "metadata": {"name": "lr"},
                    "spec": {"limits": [{"type": "Container",
                                         "defaultRequest": {"cpu": "10m"}}]}}) as r:
                assert r.status == 201, await r.text()
    out = await lean_creates(url, ns, n, concurrency, ns)
    assert out["errors"] == 0, (ns, out)
    return float(out["per_second"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--creates", type=int, default=1500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    etcd = Etcd().start()
    rates: dict[str, list[float]] = {m: [] for m in ARGS}
    try:
        for r in range(a.rounds):
            for mode in ARGS:
                server = ApiServer(etcd.url, ARGS[mode]).start()
                try:
                    rates[mode].append(asyncio.run(round_(
                        server.url, f"b-{mode}-{r}", a.creates, a.concurrency,
                        mode == "active")))
                finally:
                    server.stop()
    finally:
        etcd.stop()
    med = {k: statistics.median(v) for k, v in rates.items()}
    out: dict[str, Any] = {"creates": a.creates, "concurrency": a.concurrency,
                           "per_second": rates, "median": med,
                           "idle_vs_off": round(med["idle"] / med["off"], 3),
                           "on_vs_off": round(med["on"] / med["off"], 3),
                           "active_vs_off": round(med["active"] / med["off"], 3)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
