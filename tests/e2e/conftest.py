"""Fixtures of the e2e tests (the session-wide etcd and API server are in tests/conftest.py)."""
