"""Fixtures of the api tests: none. The api package is pure (models, validation, defaults,
quantities, label selectors, time), so its tests need no etcd, no API server and no
Docker; they use none of the session fixtures of tests/conftest.py."""
