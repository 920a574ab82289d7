"""Options every command takes, so ``minictl get pods -n x`` works like ``minictl -n x get pods``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.context import apply_common

F = TypeVar("F", bound=Callable[..., Any])


def common(f: F) -> F:
    @click.option("-n", "--namespace", "namespace_", metavar="NS",
                  help="The namespace (default: default).")
    @click.option("-s", "--server", "server_", metavar="URL",
                  help="The API server (default: the kubeconfig's context, $MINIK8S_SERVER, "
                       "~/.minik8s/config, http://127.0.0.1:8080).")
    @click.option("--kubeconfig", "kubeconfig_", metavar="FILE",
                  help="The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
    @click.option("--context", "context_", metavar="NAME",
                  help="The kubeconfig context to use (default: its current-context).")
    @click.option("--certificate-authority", "ca_file_", metavar="FILE",
                  help="Path to a cert file for the certificate authority.")
    @click.option("--client-certificate", "cert_file_", metavar="FILE",
                  help="Path to a client certificate file for TLS.")
    @click.option("--client-key", "key_file_", metavar="FILE",
                  help="Path to a client key file for TLS.")
    @click.option("--token", "token_", metavar="TOKEN",
                  help="Bearer token for authentication to the API server.")
    @click.option("--insecure-skip-tls-verify", "insecure_", is_flag=True, default=False,
                  help="Do not check the server's certificate (makes HTTPS insecure).")
    @functools.wraps(f)
    def wrapper(*args: Any, namespace_: str | None, server_: str | None,
                kubeconfig_: str | None, context_: str | None, ca_file_: str | None,
                cert_file_: str | None, key_file_: str | None, token_: str | None,
                insecure_: bool, **kw: Any) -> Any:
        apply_common(server_, namespace_, kubeconfig_, context_,
                     {"ca_file": ca_file_, "cert_file": cert_file_, "key_file": key_file_,
                      "token": token_, "insecure": insecure_})
        return f(*args, **kw)

    return wrapper  # type: ignore[return-value]


def parse_bool(value: str, flag: str) -> bool:
    """A boolean flag's value as cobra reads it (Go's strconv.ParseBool, the forms kubectl
    users type), with its error; ``flag`` as typed, e.g. ``--namespaced``."""
    v = value.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise click.UsageError(f'invalid argument "{value}" for "{flag}" flag: '
                           f'strconv.ParseBool: parsing "{value}": invalid syntax')
