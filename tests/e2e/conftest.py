"""Fixtures of the e2e tests. test_compose (marked ``docker`` and ``e2e``: needs Docker and
minutes) brings up the docker-compose cluster with deploy/up.sh and drives it with minictl,
curl and docker; test_readme checks the README's promises against docs/ and needs nothing
running. Neither uses the session etcd and API server of tests/conftest.py."""
