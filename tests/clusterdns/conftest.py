"""Fixtures of the cluster DNS tests.

They need no Docker: the DNS server runs in this process (clusterdns.main.ClusterDns) or
as the ``minik8s-dns`` process, on loopback ports, against the session's API server with
Services and EndpointSlices the tests write. Names outside the zone are forwarded only to
``upstream``, a fixed-answer dnslib server these fixtures start on 127.0.0.1: a test never
makes the DNS server ask the host's real resolvers (``--upstream`` is always given).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clusterdns.helpers import UPSTREAM_ANSWER, Upstream, start_fixed_server


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = start_fixed_server(f". 60 IN A {UPSTREAM_ANSWER}")
    yield u
    for s in u.servers:
        s.stop()
        s.server.server_close()
