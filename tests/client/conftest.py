"""Fixtures of the client tests (the session-wide etcd and API server are in tests/conftest.py).

The REST clients, informers and leader election run against the shared API server
(``client``, ``server_url``); tests that cut the connection start an API server of their own
on the shared etcd (``testing.support.ApiServer(etcd.url)``) and stop it under the client.
The work queue tests need no server.
"""
