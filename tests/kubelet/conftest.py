"""Fixtures of the kubelet tests (the session-wide etcd and API server are in tests/conftest.py).

Most tests run a kubelet in this process on the fake runtime (``helpers.Harness``) and need
only the API server. The ``docker``-marked ones need a real Docker daemon (they are skipped
without one) and run the kubelet as a process (``helpers.KubeletProc``) on the locally built
pause and busybox images (the ``dk`` fixture, in tests/conftest.py); their containers carry the
node's label and are removed by it.
"""


from pathlib import Path

import pytest

_HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The kubelet's tests run with ``-W error::RuntimeWarning``: a coroutine that is never
    awaited fails the test (its warning, raised in the coroutine's finalizer, reaches
    pytest as an unraisable exception, which is an error too)."""
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))
            item.add_marker(pytest.mark.filterwarnings(
                "error::pytest.PytestUnraisableExceptionWarning"))
