"""Fixtures of the scheduler tests (the session-wide etcd and API server are in tests/conftest.py).

A scheduler acts on every pending pod and counts every node it sees, so the tests that run
one (a process or in this process) get a cluster of the module's own (``cluster``: the URL of
``private_apiserver``), a plain ``Client`` on it (``api``) and a fresh namespace there
(``ns``); the plugin, queue and config tests need no server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.models import Namespace
from client import Client
from testing.support import ApiServer, unique


@pytest.fixture(scope="module")
def cluster(private_apiserver: ApiServer) -> str:
    return private_apiserver.url


@pytest.fixture
def api(cluster: str) -> Iterator[Client]:
    with Client(cluster) as c:
        yield c


@pytest.fixture
def ns(api: Client) -> str:
    name = unique("sched")
    api.create(Namespace.from_dict({"metadata": {"name": name}}))
    return name
