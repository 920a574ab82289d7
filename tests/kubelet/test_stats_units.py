"""kubelet/stats.py's cgroup reading on made-up cgroup trees (v1 and v2)."""

from __future__ import annotations

from pathlib import Path

from kubelet.stats import CgroupReader, cpu_stats, memory_stats


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def test_v1_container_under_its_qos_parent(tmp_path: Path) -> None:
    cid = "ab" * 32
    _write(tmp_path / "cpuacct" / "kubepods" / "burstable" / cid, {"cpuacct.usage": "5000000\n"})
    _write(tmp_path / "memory" / "kubepods" / "burstable" / cid, {
        "memory.usage_in_bytes": "1000000\n",
        "memory.stat": "cache 10\nrss 7\ntotal_rss 600000\ntotal_inactive_file 300000\n"
                       "total_pgfault 12\ntotal_pgmajfault 1\n"})
    r = CgroupReader(tmp_path)
    u = r.container(cid)
    assert u is not None
    assert (u.cpu_ns, u.usage, u.working_set, u.rss) == (5_000_000, 1_000_000, 700_000, 600_000)
    assert (u.page_faults, u.major_page_faults) == (12, 1)
    assert r.container("cd" * 32) is None
    m = r.machine()  # the machine's /proc/stat and /proc/meminfo
    assert m is not None and m.cpu_ns > 0 and m.working_set > 0


def test_v2_systemd_scope(tmp_path: Path) -> None:
    cid = "ef" * 32
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    _write(tmp_path / "system.slice" / f"docker-{cid}.scope", {
        "cpu.stat": "usage_usec 2500\nuser_usec 2000\n", "memory.current": "4096\n",
        "memory.stat": "anon 1024\ninactive_file 1000\n"})
    u = CgroupReader(tmp_path).container(cid)
    assert u is not None
    assert (u.cpu_ns, u.usage, u.working_set, u.rss) == (2_500_000, 4096, 3096, 1024)


def test_rate_from_two_samples() -> None:
    from kubelet.stats import Usage
    a = Usage(t=100.0, cpu_ns=1_000_000_000, usage=10, working_set=5, rss=3)
    b = Usage(t=102.0, cpu_ns=1_500_000_000, usage=10, working_set=5, rss=3)
    assert cpu_stats(b, a) == {"time": "1970-01-01T00:01:42Z",
                               "usageCoreNanoSeconds": 1_500_000_000,
                               "usageNanoCores": 250_000_000}
    assert "usageNanoCores" not in cpu_stats(b, None)
    assert memory_stats(b, 100)["availableBytes"] == 95
