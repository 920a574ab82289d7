"""The authenticator the flags describe (pkg/kubeapiserver/authenticator/config.go): x509
client certificates when ``--client-ca-file`` is given, then the bearer tokens of the
static token file and bootstrap tokens (ServiceAccount tokens are added with
``add_token_authenticator`` by their module), then anonymous when enabled."""

from __future__ import annotations

from typing import Any

from apiserver.auth.authenticator import RequestAuthenticator
from apiserver.auth.bootstrap import BootstrapTokens
from apiserver.auth.tokenfile import TokenFile
from apiserver.auth.x509 import CertAuthenticator


def build(config: Any, caches: dict[str, Any]) -> RequestAuthenticator:
    authn = RequestAuthenticator(
        certs=CertAuthenticator() if getattr(config, "client_ca_file", None) else None,
        anonymous=config.anonymous_auth)
    if getattr(config, "token_auth_file", None):
        authn.add_token_authenticator(TokenFile.load(config.token_auth_file))
    if getattr(config, "enable_bootstrap_token_auth", False):
        authn.add_token_authenticator(BootstrapTokens(caches["secrets"]))
    return authn
