"""A bounded smoke run of bench/ingress.py (not timed, no figure asserted): a short load
each way, two endpoint changes, and the JSON document it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.docker]


def test_ingress_bench_smoke(server_url: str) -> None:
    from tests.ingress.helpers import IMAGE, docker

    dk = docker()
    present = bool(dk.images.list(name=IMAGE))
    dk.close()
    if not present or shutil.which("nginx") is None:
        pytest.skip(f"needs {IMAGE} locally and the host's nginx")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingress.py"), "--seconds", "0.5", "--rounds",
         "1", "--clients", "4", "--changes", "2", "--server", server_url],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["rounds"][0]["direct"]["requests"] > 0
    assert doc["rounds"][0]["ingress"]["requests"] > 0
    assert doc["rounds"][0]["ingress"]["errors"] == 0
    assert doc["endpoint_change_to_routing_s"]["n"] == 2
    assert doc["baseline_nginx_t_s"]["n"] == 2
