"""The chaos suite's cluster (one for the package: 3 etcd members, 2 API servers behind a
balancer, 2 schedulers and 2 controller-managers electing leaders, 2 kubelets) and its
selection: every test is marked ``chaos``; the whole matrix is also ``chaos_full`` and runs
only with ``-m chaos_full`` or ``MINIK8S_CHAOS_FULL=1`` (a plain ``pytest`` runs the bounded
subset). The table of every case run is printed at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from testing.chaos import HACluster, Row, table

ROWS: list[Row] = []


def full_matrix(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return os.environ.get("MINIK8S_CHAOS_FULL") == "1" or \
        ("chaos_full" in expr and "not chaos_full" not in expr)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside the full run the long cases are skipped; in it every chaos case is also
    ``chaos_full`` (before ``-m`` selects), so ``-m chaos_full`` runs the whole matrix."""
    full = full_matrix(config)
    skip = pytest.mark.skip(reason="the full chaos matrix: -m chaos_full or MINIK8S_CHAOS_FULL=1")
    for item in items:
        if not item.get_closest_marker("chaos"):
            continue
        if full:
            item.add_marker(pytest.mark.chaos_full)
        elif item.get_closest_marker("chaos_full"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "chaos: fault, target, scenario, time to converge")
        terminalreporter.write_line(table(ROWS))


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]

        d = docker.from_env()
        try:
            d.ping()
            return True
        finally:
            d.close()
    except Exception:
        return False


def iptables_usable() -> bool:
    """Root, iptables-restore and ip: the proxy can program a network namespace of its own."""
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("iptables-restore", "ip"))


@pytest.fixture(scope="package")
def cluster() -> Iterator[HACluster]:
    """Stopped after the package's last test, not at the end of the whole run."""
    if docker_answers():
        from testing.support import build_images

        build_images()
    c = HACluster(docker=docker_answers(), proxy=iptables_usable())
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def rows() -> list[Row]:
    return ROWS
