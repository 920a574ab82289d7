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
    @functools.wraps(f)
    def wrapper(*args: Any, namespace_: str | None, server_: str | None,
                kubeconfig_: str | None, context_: str | None, **kw: Any) -> Any:
        apply_common(server_, namespace_, kubeconfig_, context_)
        return f(*args, **kw)

    return wrapper  # type: ignore[return-value]
