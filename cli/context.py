"""Per-invocation state: where the server is, the namespace, and one lazily made client."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import click

from api import resources
from api.resources import ResourceInfo
from cli import discovery
from cli.errors import CliError
from client.config import CliConfig, KubeconfigError, TLSConfigError, resolve_cli
from client.rest import Client, RetryPolicy


@dataclass
class State:
    server_flag: str | None = None
    namespace_flag: str | None = None
    kubeconfig_flag: str | None = None
    context_flag: str | None = None
    # kubectl's --certificate-authority, --client-certificate, --client-key, --token,
    # --insecure-skip-tls-verify (client.config.resolve_cli's overrides)
    tls_flags: dict[str, Any] = field(default_factory=dict)
    _client: Client | None = field(default=None, repr=False)
    _config: CliConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> CliConfig:
        """Server, token and default namespace (``client.config.resolve_cli``), read once."""
        if self._config is None:
            try:
                self._config = resolve_cli(self.server_flag, self.kubeconfig_flag,
                                           self.context_flag, self.tls_flags)
            except KubeconfigError as exc:
                raise CliError(str(exc)) from exc
        return self._config

    @property
    def server(self) -> str:
        return self.config.server

    def server_safe(self) -> str:
        """The server for an error message; never fails (a broken config file is no excuse)."""
        try:
            return self.server
        except Exception:
            return self.server_flag or "http://127.0.0.1:8080"

    @property
    def namespace(self) -> str:
        return self.namespace_flag or self.config.namespace or "default"

    @property
    def explicit_namespace(self) -> bool:
        return self.namespace_flag is not None

    @property
    def client(self) -> Client:
        if self._client is None:
            # One quick retry only: a person at a prompt wants "refused" in a second, not ten.
            cfg = self.config
            try:
                self._client = Client(cfg.server, token=cfg.token, timeout=30,
                                      retry=RetryPolicy(retries=1, base=0.1, cap=0.5),
                                      config=cfg.client)
            except TLSConfigError as exc:
                raise CliError(str(exc)) from exc
        return self._client

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of exec and port-forward (the client's, made once)."""
        return self.client.config.ssl_context()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def state() -> State:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def apply_common(server: str | None, namespace: str | None, kubeconfig: str | None = None,
                 context: str | None = None, tls: dict[str, Any] | None = None) -> State:
    """Command-level ``--server``/``-n``/``--kubeconfig``/``--context`` override the
    group-level ones."""
    st = state()
    if server:
        st.server_flag = server
    if namespace:
        st.namespace_flag = namespace
    if kubeconfig:
        st.kubeconfig_flag = kubeconfig
    if context:
        st.context_flag = context
    for k, v in (tls or {}).items():
        if v:
            st.tls_flags[k] = v
    st._config = None
    return st


def resolve_kind(name: str) -> ResourceInfo:
    info = resources.lookup(name)
    if info is None:
        # not built in: a custom resource the server's discovery may name
        discovery.discover(state())
        info = resources.lookup(name)
    if info is None:
        raise CliError(f'the server doesn\'t have a resource type "{name}"')
    return info


def split_ref(ref: str) -> tuple[ResourceInfo, str]:
    """``deployment/nginx`` -> (DEPLOYMENTS, "nginx")."""
    kind, sep, name = ref.partition("/")
    if not sep or not kind or not name:
        raise CliError(f'arguments in resource/name form must have a single resource and name: "{ref}"')
    return resolve_kind(kind), name


def object_refs(args: tuple[str, ...]) -> list[tuple[ResourceInfo, str]]:
    """kubectl's two spellings: ``KIND NAME...`` or ``KIND/NAME...``."""
    if not args:
        raise CliError("you must specify the type of resource to get")
    if all("/" in a for a in args):
        return [split_ref(a) for a in args]
    if any("/" in a for a in args):
        raise CliError("there is no need to specify a resource type as a separate argument "
                       "when passing arguments in resource/name form")
    info = resolve_kind(args[0])
    if len(args) < 2:
        raise CliError(f"you must specify the name of the {info.singular}")
    return [(info, n) for n in args[1:]]
