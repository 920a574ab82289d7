"""Fixtures of the controllers tests (the session-wide etcd and API server are in tests/conftest.py).

The controller-manager runs as its own process (``tests.controllers.helpers``), with
``FakeKubelet`` marking pods Running and Ready in place of a kubelet. The workload tests share
the session's API server and keep to their own namespaces; a module whose actors act on
every node or pod (node lifecycle, a scheduler) points ``server_url`` at its own
``private_apiserver`` instead, so each such module overrides ``server_url`` itself. The
decision-logic tests need no server.
"""
