"""``minictl config``: kubeconfig files as kubectl reads and writes them (client-go's loader).

The files are the same ones kubectl uses (``--kubeconfig``, else ``$KUBECONFIG``'s list,
else ``~/.kube/config``); entries are merged first-wins, a change goes back to the file the
entry came from (a new one to the first existing file), files are written with mode 0600.
The messages, columns and YAML/JSON are kubectl's (staging/src/k8s.io/kubectl/pkg/cmd/config).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.context import state
from cli.errors import CliError
from cli.output import dump_json, dump_yaml
from client.config import Kubeconfig, KubeconfigError, normalized_kubeconfig

F = TypeVar("F", bound=Callable[..., Any])

# Field order of client-go's v1 Config types, for ``-o json`` (YAML sorts its keys).
_ORDER = {
    "top": ["kind", "apiVersion", "preferences", "clusters", "users", "contexts",
            "current-context", "extensions"],
    "cluster": ["server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority",
                "certificate-authority-data", "proxy-url", "disable-compression", "extensions"],
    "context": ["cluster", "user", "namespace", "extensions"],
    "user": ["client-certificate", "client-certificate-data", "client-key", "client-key-data",
             "token", "tokenFile", "as", "as-uid", "as-groups", "as-user-extra", "username",
             "password", "auth-provider", "exec", "extensions"],
}
_OMITTED = {"cluster": ("certificate-authority-data",),
            "user": ("client-certificate-data", "client-key-data")}
_REDACTED = {"user": ("token", "password")}


def kube_options(f: F) -> F:
    """``--kubeconfig`` and ``--context`` after the subcommand too (``config view --minify
    --context x``), as kubectl's global flags go anywhere."""

    @click.option("--kubeconfig", "kubeconfig_", metavar="FILE",
                  help="The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
    @click.option("--context", "context_", metavar="NAME", help="The context to use.")
    @functools.wraps(f)
    def wrapper(*args: Any, kubeconfig_: str | None, context_: str | None, **kw: Any) -> Any:
        st = state()
        st.kubeconfig_flag = kubeconfig_ or st.kubeconfig_flag
        st.context_flag = context_ or st.context_flag
        return f(*args, **kw)

    return wrapper  # type: ignore[return-value]


def _load() -> Kubeconfig:
    try:
        return Kubeconfig.load(state().kubeconfig_flag)
    except KubeconfigError as exc:
        raise CliError(str(exc)) from exc


def _write(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except OSError as exc:
        raise CliError(f"{exc.strerror}: {exc.filename}") from exc


@click.group("config")
def config_cmd() -> None:
    """Modify kubeconfig files (the same files kubectl uses).

    \b
    minictl finds its server as kubectl does: --server, else the current context of the
    kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config; --context picks
    another), then $MINIK8S_SERVER, ~/.minik8s/config, http://127.0.0.1:8080.
    """


# ---- reading -------------------------------------------------------------------------


def _ordered(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    order = _ORDER[kind]
    keys = sorted(body, key=lambda k: (order.index(k) if k in order else len(order), k))
    return {k: body[k] for k in keys}


def _merged(kc: Kubeconfig, *, raw: bool, only: str | None) -> dict[str, Any]:
    sections: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, set[str] | None] = {"clusters": None, "contexts": None, "users": None}
    current = kc.current_context
    if only is not None:
        ctx = kc.entries["contexts"][only]
        names = {"contexts": {only}, "clusters": {str(ctx.get("cluster") or "")},
                 "users": {str(ctx.get("user") or "")}}
        current = only
    for section, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        wanted = names[section]
        items = []
        for name, body in sorted(kc.entries[section].items()):
            if wanted is not None and name not in wanted:
                continue
            body = dict(body)
            if not raw:
                for key in _OMITTED.get(inner, ()):
                    if body.get(key):
                        body[key] = "DATA+OMITTED"
                for key in _REDACTED.get(inner, ()):
                    if body.get(key):
                        body[key] = "REDACTED"
            items.append({"name": name, inner: body})
        sections[section] = items
    return normalized_kubeconfig({"apiVersion": "v1", "kind": "Config",
                                  "current-context": current, **sections})


def _as_json(cfg: dict[str, Any]) -> dict[str, Any]:
    out = _ordered("top", cfg)
    for section, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        if out.get(section):
            out[section] = [{"name": e["name"], inner: _ordered(inner, e[inner])}
                            for e in out[section]]
        else:
            out.pop(section, None)  # omitempty in the JSON kubectl prints
    return out


@config_cmd.command("view")
@click.option("--minify", is_flag=True, help="Only the current context's entries.")
@click.option("--raw", is_flag=True, help="Show the secrets (tokens, keys) as they are.")
@click.option("--flatten", is_flag=True, help="Accepted for kubectl's sake (data is inline).")
@click.option("-o", "--output", default="yaml", metavar="yaml|json", help="Output format.")
@kube_options
def view_cmd(minify: bool, raw: bool, flatten: bool, output: str) -> None:
    """Display the merged kubeconfig settings."""
    if output not in ("yaml", "json"):
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       "allowed formats are: json,yaml")
    kc = _load()
    only = None
    if minify:
        only = state().context_flag or kc.current_context
        if not only:
            raise CliError("current-context must exist in order to minify")
        if only not in kc.entries["contexts"]:
            raise CliError(f"cannot locate context {only}")
        ctx = kc.entries["contexts"][only]
        for section, key in (("clusters", "cluster"), ("users", "user")):
            ref = ctx.get(key)
            if ref and ref not in kc.entries[section]:
                raise CliError(f"cannot locate {key} {ref}")
    cfg = _merged(kc, raw=raw or flatten, only=only)
    if output == "json":
        click.echo(dump_json(_as_json(cfg)))
    else:
        click.echo(dump_yaml(cfg), nl=False)


def _table(rows: list[list[str]]) -> str:
    """kubectl's tabwriter (minwidth 6, padding 3): every column but the last padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(max(w + 3, 6)) for c, w in zip(r[:-1], widths, strict=False)]
        lines.append("".join(cells) + r[-1])
    return "\n".join(lines)


@config_cmd.command("get-contexts")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", default="", metavar="name", help="Output format: name.")
@click.option("--no-headers", is_flag=True, help="Don't print headers.")
@kube_options
def get_contexts_cmd(names: tuple[str, ...], output: str, no_headers: bool) -> None:
    """Describe one or many contexts."""
    if output not in ("", "name"):
        raise CliError(f"--output {output} is not available in minictl config get-contexts; "
                       "resetting to default output format")
    kc = _load()
    contexts = kc.entries["contexts"]
    wanted = list(names) or sorted(contexts)
    found = [n for n in wanted if n in contexts]
    missing = [n for n in wanted if n not in contexts]
    if output == "name":
        for n in found:
            click.echo(n)
    else:
        rows = [] if no_headers else [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
        for n in found:
            c = contexts[n]
            rows.append(["*" if n == kc.current_context else "", n, str(c.get("cluster") or ""),
                         str(c.get("user") or ""), str(c.get("namespace") or "")])
        if rows:
            click.echo(_table(rows))
    if missing:
        raise CliError("; ".join(f"context {n} not found" for n in missing))


@config_cmd.command("get-clusters")
@kube_options
def get_clusters_cmd() -> None:
    """Display clusters defined in the kubeconfig."""
    click.echo("NAME")
    for name in sorted(_load().entries["clusters"]):
        click.echo(name)


@config_cmd.command("get-users")
@kube_options
def get_users_cmd() -> None:
    """Display users defined in the kubeconfig."""
    click.echo("NAME")
    for name in sorted(_load().entries["users"]):
        click.echo(name)


@config_cmd.command("current-context")
@kube_options
def current_context_cmd() -> None:
    """Display the current-context."""
    current = _load().current_context
    if not current:
        raise CliError("current-context is not set")
    click.echo(current)


# ---- writing -------------------------------------------------------------------------


@config_cmd.command("use-context")
@click.argument("name")
@kube_options
def use_context_cmd(name: str) -> None:
    """Set the current-context in a kubeconfig file."""
    kc = _load()
    if name not in kc.entries["contexts"]:
        raise CliError(f'no context exists with the name: "{name}"')
    _write(lambda: kc.set_current_context(name))
    click.echo(f'Switched to context "{name}".')


@config_cmd.command("set-context")
@click.argument("name", required=False)
@click.option("--current", is_flag=True, help="Modify the current context.")
@click.option("--cluster", default=None, help="cluster for the context entry.")
@click.option("--user", default=None, help="user for the context entry.")
@click.option("--namespace", default=None, help="namespace for the context entry.")
@kube_options
def set_context_cmd(name: str | None, current: bool, cluster: str | None, user: str | None,
                    namespace: str | None) -> None:
    """Set a context entry in kubeconfig (created, or only the given fields changed)."""
    kc = _load()
    if current and name:
        raise CliError("you cannot specify both a context name and --current")
    if current:
        if not kc.current_context:
            raise CliError("no current context is set")
        name = kc.current_context
    if not name:
        raise CliError("you must specify a non-empty context name or --current")
    existing = kc.entries["contexts"].get(name)
    body = dict(existing or {})
    for key, value in (("cluster", cluster), ("user", user), ("namespace", namespace)):
        if value is not None:
            body[key] = value
            if not value and key == "namespace":
                body.pop(key)
    _write(lambda: kc.set_entry("contexts", name, body))
    click.echo(f'Context "{name}" {"modified" if existing is not None else "created"}.')


@config_cmd.command("set-cluster")
@click.argument("name")
@click.option("--server", default=None, help="server for the cluster entry.")
@click.option("--insecure-skip-tls-verify", "insecure", default=None, type=bool,
              is_flag=False, flag_value=True, help="insecure-skip-tls-verify for the entry.")
@click.option("--tls-server-name", default=None, help="tls-server-name for the entry.")
@kube_options
def set_cluster_cmd(name: str, server: str | None, insecure: bool | None,
                    tls_server_name: str | None) -> None:
    """Set a cluster entry in kubeconfig."""
    kc = _load()
    body = dict(kc.entries["clusters"].get(name) or {})
    if server is not None:
        body["server"] = server
    if insecure is not None:
        body["insecure-skip-tls-verify"] = insecure
        if not insecure:
            body.pop("insecure-skip-tls-verify")
    if tls_server_name is not None:
        body["tls-server-name"] = tls_server_name
    _write(lambda: kc.set_entry("clusters", name, body))
    click.echo(f'Cluster "{name}" set.')


@config_cmd.command("set-credentials")
@click.argument("name")
@click.option("--token", default=None, help="token for the user entry.")
@click.option("--username", default=None, help="username for the user entry.")
@click.option("--password", default=None, help="password for the user entry.")
@kube_options
def set_credentials_cmd(name: str, token: str | None, username: str | None,
                        password: str | None) -> None:
    """Set a user entry in kubeconfig."""
    kc = _load()
    body = dict(kc.entries["users"].get(name) or {})
    # One way of authenticating at a time: a token clears username/password and vice versa.
    set_token, set_basic = token is not None, username is not None or password is not None
    if set_token:
        body.pop("tokenFile", None)
    if set_token and not set_basic:
        body.pop("username", None), body.pop("password", None)
    if set_basic and not set_token:
        body.pop("token", None)
    for key, value in (("token", token), ("username", username), ("password", password)):
        if value is not None:
            body[key] = value
            if not value:
                body.pop(key)
    _write(lambda: kc.set_entry("users", name, body))
    click.echo(f'User "{name}" set.')


def _delete(section: str, singular: str, name: str) -> None:
    kc = _load()
    if name not in kc.entries[section]:
        raise CliError(f"cannot delete {singular} {name}, not in {kc.default_file()}")
    path = _write(lambda: kc.delete_entry(section, name))
    click.echo(f"deleted {singular} {name} from {path}")
    if section == "contexts" and kc.current_context == name:
        click.echo('warning: this removed your active context, use "kubectl config use-context" '
                   "to select a different one", err=True)


@config_cmd.command("delete-context")
@click.argument("name")
@kube_options
def delete_context_cmd(name: str) -> None:
    """Delete the specified context from the kubeconfig."""
    _delete("contexts", "context", name)


@config_cmd.command("delete-cluster")
@click.argument("name")
@kube_options
def delete_cluster_cmd(name: str) -> None:
    """Delete the specified cluster from the kubeconfig."""
    _delete("clusters", "cluster", name)


@config_cmd.command("delete-user")
@click.argument("name")
@kube_options
def delete_user_cmd(name: str) -> None:
    """Delete the specified user from the kubeconfig."""
    _delete("users", "user", name)


# ---- the global flags ------------------------------------------------------------------


def _set_flag(attr: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value:
            setattr(state(), attr, value)

    return callback


def register(group: click.Group) -> None:
    """``minictl config ...`` and the global ``--kubeconfig``/``--context`` of the root group."""
    group.add_command(config_cmd)
    group.params.append(click.Option(
        ["--kubeconfig"], metavar="FILE", expose_value=False, callback=_set_flag("kubeconfig_flag"),
        help="The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."))
    group.params.append(click.Option(
        ["--context"], metavar="NAME", expose_value=False, callback=_set_flag("context_flag"),
        help="The kubeconfig context to use (default: its current-context)."))
