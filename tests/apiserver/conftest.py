"""Fixtures of the apiserver tests (the session-wide etcd and API server are in tests/conftest.py)."""
