"""Session-wide fixtures: one real etcd and one API server for the whole run.

Tests isolate themselves by namespace or by unique names (``support.unique``),
not by restarting the cluster; a test that must restart or break something
starts its own with ``support.Etcd`` / ``support.ApiServer``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ApiServer, Etcd


@pytest.fixture(scope="session")
def etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    yield e
    e.stop()


@pytest.fixture(scope="session")
def apiserver(etcd: Etcd) -> Iterator[ApiServer]:
    s = ApiServer(etcd.url).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def server_url(apiserver: ApiServer) -> str:
    return apiserver.url
