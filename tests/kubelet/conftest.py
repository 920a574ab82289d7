"""Fixtures of the kubelet tests (the session-wide etcd and API server are in tests/conftest.py).

Most tests run a kubelet in this process on the fake runtime (``helpers.Harness``) and need
only the API server. The ``docker``-marked ones need a real Docker daemon (they are skipped
without one) and run the kubelet as a process (``helpers.KubeletProc``) on the locally built
pause and busybox images (the ``dk`` fixture, in tests/conftest.py); their containers carry the
node's label and are removed by it.
"""

