"""The test harness, shared by tests/ and bench/: one way to start etcd, an API server
and the services as real processes, to wait on a condition with a timeout, to talk JSON
to the server, and to build the objects tests and benchmarks create.

- ``testing.support``: ``Etcd``, ``ApiServer``, ``service`` (``python -m <service>``),
  ``free_port``, ``wait_for`` / ``async_wait_for`` (never a bare sleep), ``unique`` names,
  ``json_request`` for tests that want the raw wire.
- ``testing.apiclient``: ``Api`` (JSON calls to a server), ``Watch``, and dict builders of
  pods, Deployments and ReplicaSets.
- ``testing.objects``: typed builders (``make_node``, ``make_pod``, ``deployment``).
- ``testing.kubectl``: ``Kubectl``, the real kubectl on a server, isolated from ``~/.kube``.

It imports ``api`` and ``client`` only: the services run as processes, never in-process
from here (an import contract keeps it so). Benchmarks import it, and never ``tests``.
"""
