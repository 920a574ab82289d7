"""A bounded smoke run of bench/informer.py (not timed, no figure asserted): a few pods
against the shared API server and a small big-sync from the canned server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT


@pytest.mark.timeout(180)
def test_informer_bench_smoke(server_url: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "informer.py"), "--server", server_url,
         "--pods", "40", "--big", "300", "--concurrency", "8"],
        capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["pods"] == 40
    assert {"informer_sync_s", "baseline_raw_get_plus_orjson_s"} <= set(doc["sync"])
    mem = doc["memory_per_object_bytes"]
    assert mem["informer_compact_indexed"] > 0 and mem["baseline_typed_indexed"] > 0
    assert doc["events_replay"]["events"] == 40
    assert doc["events_cpu_only"]["events"] >= 40
    big = doc["big_sync"]
    assert big["pods"] == 300
    assert big["informer"]["sync_s"] > 0 and big["baseline_raw_aiohttp_orjson"]["sync_s"] > 0
