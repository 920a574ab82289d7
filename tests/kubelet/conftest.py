"""Fixtures of the kubelet tests (the session-wide etcd and API server are in tests/conftest.py).

Most tests run a kubelet in this process on the fake runtime (``helpers.Harness``) and need
only the API server. The ``docker``-marked ones need a real Docker daemon (they are skipped
without one) and run the kubelet as a process (``helpers.KubeletProc``) on the locally built
pause and busybox images; their containers carry the node's label and are removed by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.kubelet.helpers import build_images, docker_client


@pytest.fixture(scope="module")
def dk() -> Iterator[Any]:
    """The Docker client, with the pause and busybox images built."""
    d = docker_client()
    build_images()
    yield d
    d.close()
