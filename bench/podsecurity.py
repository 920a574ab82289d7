"""Pod Security admission's cost: pod creates/s through one API server in a namespace with
no Pod Security labels (privileged: the plugin looks the namespace up and stops), one that
enforces baseline, and one that enforces baseline and warns and audits restricted (every
create then evaluated at two levels and answered with a Warning header), plus the checks
alone (microseconds per evaluation of the same pod at baseline and restricted, in-process).
Rounds alternate between the namespaces on one server so a busy machine hurts all alike;
prints one JSON document with the medians and the ratios to the unlabelled namespace.

Usage: python bench/podsecurity.py [--creates 1500] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiserver.admission_plugins.podsecurity.api import LATEST_VERSION, LevelVersion  # noqa: E402
from apiserver.admission_plugins.podsecurity.evaluator import Evaluator  # noqa: E402
from bench.apiserver import ensure_ns, lean_creates, pod  # noqa: E402
from testing.support import ApiServer, Etcd  # noqa: E402

P = "pod-security.kubernetes.io/"
NAMESPACES: dict[str, dict[str, str]] = {
    "unlabelled": {},
    "baseline": {P + "enforce": "baseline"},
    "baseline_warn_restricted": {P + "enforce": "baseline", P + "warn": "restricted",
                                 P + "audit": "restricted"},
}


async def _label(url: str, ns: str, labels: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as s:
        await ensure_ns(s, url, ns)
        if labels:
            async with s.patch(f"{url}/api/v1/namespaces/{ns}",
                               data=orjson.dumps({"metadata": {"labels": labels}}),
                               headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200, await r.text()


async def _round(url: str, ns: str, labels: dict[str, str], n: int, concurrency: int,
                 prefix: str) -> float:
    await _label(url, ns, labels)
    out = await lean_creates(url, ns, n, concurrency, prefix)
    assert out["errors"] == 0, (ns, out)
    return float(out["per_second"])


def checks_alone(number: int) -> dict[str, float]:
    ev = Evaluator()
    spec = pod("p", "ns")["spec"]
    return {lv: round(timeit.timeit(
        lambda lv=lv: ev.evaluate(LevelVersion(lv, LATEST_VERSION), {}, spec),  # type: ignore[misc]
        number=number) / number * 1e6, 1) for lv in ("baseline", "restricted")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--creates", type=int, default=1500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    rates: dict[str, list[float]] = {m: [] for m in NAMESPACES}
    etcd = Etcd().start()
    try:
        server = ApiServer(etcd.url).start()
        try:
            for r in range(a.rounds):
                for mode, labels in NAMESPACES.items():
                    ns = f"psa-{mode.replace('_', '-')}"
                    rates[mode].append(asyncio.run(_round(
                        server.url, ns, labels, a.creates, a.concurrency, f"r{r}")))
        finally:
            server.stop()
    finally:
        etcd.stop()
    med = {k: statistics.median(v) for k, v in rates.items()}
    out: dict[str, Any] = {
        "creates": a.creates, "concurrency": a.concurrency, "per_second": rates,
        "median": med,
        "baseline_vs_unlabelled": round(med["baseline"] / med["unlabelled"], 3),
        "baseline_warn_restricted_vs_unlabelled": round(
            med["baseline_warn_restricted"] / med["unlabelled"], 3),
        "checks_alone_us": checks_alone(max(100, a.creates * 4))}
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
