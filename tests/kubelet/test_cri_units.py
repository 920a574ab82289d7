"""The CRI runtime's pure parts (log files, errors) and its behaviour with no runtime at the
endpoint; no containerd needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from kubelet.runtime.base import RuntimeUnavailable
from kubelet.runtime.cri import CRIRuntime, _code_name, _ts_seconds, parse_cri_log_line, render_log

LOG = (b"2026-12-08T00:03:55.012273352Z stdout F one\n"
       b"2026-12-08T00:03:55.5Z stderr F two\n"
       b"2026-12-08T00:03:56.0Z stdout P thr\n"
       b"2026-12-08T00:03:56.1Z stdout F ee\n"
       b"2026-12-08T00:03:57.012366011Z stdout F  four with spaces \n"
       b"2026-12-08T00:03:58Z stdout F \n"
       b"2026-12-08T00:03:59Z stdout F unfinished")


def test_parse_line() -> None:
    assert parse_cri_log_line(b"2026-12-08T00:03:55Z stderr F a b\n") == (
        "2026-12-08T00:03:55Z", "stderr", True, b"a b")
    assert parse_cri_log_line(b"2026-12-08T00:03:55Z stdout P x") == (
        "2026-12-08T00:03:55Z", "stdout", False, b"x")
    assert parse_cri_log_line(b"garbage") is None


def test_render_joins_partial_lines_and_keeps_the_unfinished_one() -> None:
    lines, used = render_log(LOG, None, False, None)
    assert lines == [b"one\n", b"two\n", b"three\n", b" four with spaces \n", b"\n"]
    assert LOG[used:] == b"2026-12-08T00:03:59Z stdout F unfinished"


def test_render_tail_timestamps_since() -> None:
    lines, _ = render_log(LOG, 2, True, None)
    assert lines == [b"2026-12-08T00:03:57.012366011Z  four with spaces \n",
                     b"2026-12-08T00:03:58Z \n"]
    # A joined line carries the time of its first part.
    lines, _ = render_log(LOG, None, True, _ts_seconds("2026-12-08T00:03:55.9Z"))
    assert lines[0] == b"2026-12-08T00:03:56.0Z three\n"
    assert render_log(LOG, 0, False, None)[0] == []


def test_timestamps() -> None:
    base = _ts_seconds("2026-12-08T00:00:00Z")
    assert _ts_seconds("2026-12-08T00:00:01.5Z") - base == pytest.approx(1.5)
    assert _ts_seconds("2026-12-08T01:00:00+01:00") == pytest.approx(base)
    assert _ts_seconds("2026-12-08T00:00:00.250000001-00:00") - base == pytest.approx(0.25)
    assert _ts_seconds("nonsense") == 0.0


def test_code_names_as_go_prints_them() -> None:
    assert _code_name(grpc.StatusCode.NOT_FOUND) == "NotFound"
    assert _code_name(grpc.StatusCode.UNKNOWN) == "Unknown"
    assert _code_name(grpc.StatusCode.DEADLINE_EXCEEDED) == "DeadlineExceeded"


def test_no_runtime_at_the_endpoint_is_runtime_unavailable(tmp_path: Path) -> None:
    async def run() -> None:
        rt = CRIRuntime(f"unix://{tmp_path}/absent.sock", request_timeout=2)
        try:
            assert await rt.ping() is False
            with pytest.raises(RuntimeUnavailable, match="is unavailable"):
                await rt.list_containers("n")
            with pytest.raises(RuntimeUnavailable):
                await rt.version()
        finally:
            await rt.close()
    asyncio.run(asyncio.wait_for(run(), 30))


def test_main_builds_a_cri_runtime(tmp_path: Path) -> None:
    from kubelet import main

    args = main.parse_args(["--runtime", "cri", "--container-runtime-endpoint",
                            f"unix://{tmp_path}/c.sock", "--pod-logs-dir", str(tmp_path),
                            "--runtime-request-timeout", "7s", "--node-name", "x",
                            "--server", "http://127.0.0.1:1"])
    assert (args.runtime, args.container_runtime_endpoint) == ("cri", f"unix://{tmp_path}/c.sock")
    assert main.parse_args([]).container_runtime_endpoint == "unix:///run/containerd/containerd.sock"
