"""Fixtures of the client tests (the session-wide etcd and API server are in tests/conftest.py)."""
