"""Where the API server is and how to authenticate to it.

Order, most specific first: an explicit ``--server``, ``$MINIK8S_SERVER``, the file
``~/.minik8s/config`` (or ``$MINIK8S_CONFIG``), then ``http://127.0.0.1:8080``.

minictl (``resolve_cli``) puts kubectl's kubeconfig files first, after ``--server``: the
current context (or ``--context``) of ``--kubeconfig``, else ``$KUBECONFIG``'s list, else
``~/.kube/config`` gives the server, token and default namespace. The services never read
kubeconfig files, so a user's ``~/.kube/config`` cannot move them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str | None = None


def config_path() -> Path:
    return Path(os.environ.get("MINIK8S_CONFIG") or Path.home() / ".minik8s" / "config")


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """``server:``/``token:`` at the top level (YAML or JSON), or a kubeconfig's current context."""
    p = path or config_path()
    try:
        text = p.read_text()
    except OSError:
        return {}
    # Imported only when there is a file to parse: the services usually have none, and
    # PyYAML is ~1.5 MB of RSS in each of them.
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    if isinstance(data.get("server"), str):
        out["server"] = data["server"]
    if isinstance(data.get("token"), str):
        out["token"] = data["token"]
    if "server" not in out and isinstance(data.get("clusters"), list):
        out.update(_from_kubeconfig(data))
    return out


def _named(entries: Any, name: str | None, inner: str) -> dict[str, Any]:
    if not isinstance(entries, list) or not entries:
        return {}
    chosen = next((e for e in entries if isinstance(e, dict) and e.get("name") == name),
                  entries[0])
    value = chosen.get(inner) if isinstance(chosen, dict) else None
    return value if isinstance(value, dict) else {}


def _from_kubeconfig(data: dict[str, Any]) -> dict[str, Any]:
    ctx = _named(data.get("contexts"), data.get("current-context"), "context")
    cluster = _named(data.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(data.get("users"), ctx.get("user"), "user")
    out: dict[str, Any] = {}
    if isinstance(cluster.get("server"), str):
        out["server"] = cluster["server"]
    if isinstance(user.get("token"), str):
        out["token"] = user["token"]
    return out


def resolve_server(explicit: str | None = None) -> str:
    return load_config(explicit).server


def load_config(explicit_server: str | None = None, *, token: str | None = None,
                path: Path | None = None) -> ClientConfig:
    file_cfg = read_config_file(path)
    server = (explicit_server or os.environ.get("MINIK8S_SERVER") or file_cfg.get("server")
              or DEFAULT_SERVER)
    tok = token or os.environ.get("MINIK8S_TOKEN") or file_cfg.get("token")
    return ClientConfig(server=normalize_server(server), token=tok or None)


def normalize_server(server: str) -> str:
    s = server.strip().rstrip("/")
    if "://" not in s:
        s = "http://" + s
    return s


# ---- kubeconfig files, as client-go's clientcmd loads and writes them ----------------------

SECTIONS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be read or names something that is not there (one line)."""


@dataclass
class Kubeconfig:
    """The merged view of the kubeconfig files in loading order (client-go's rules).

    ``paths`` is the precedence list (``--kubeconfig`` alone, else ``$KUBECONFIG``'s list,
    else ``~/.kube/config``); per name the first file that has an entry wins, and the first
    file that sets ``current-context`` wins. ``origins`` remembers where each entry came from,
    which is where a change to it is written back.
    """

    paths: list[Path]
    explicit: bool
    files: dict[Path, dict[str, Any]]
    entries: dict[str, dict[str, dict[str, Any]]]
    origins: dict[str, dict[str, Path]]
    current_context: str

    @classmethod
    def load(cls, explicit: str | None = None) -> Kubeconfig:
        paths = kubeconfig_paths(explicit)
        files: dict[Path, dict[str, Any]] = {}
        for p in paths:
            data = _read_kubeconfig(p)
            if data is not None:
                files[p] = data
        entries: dict[str, dict[str, dict[str, Any]]] = {s: {} for s, _ in SECTIONS}
        origins: dict[str, dict[str, Path]] = {s: {} for s, _ in SECTIONS}
        current = ""
        for p in paths:
            data = files.get(p)
            if data is None:
                continue
            if not current and isinstance(data.get("current-context"), str):
                current = data["current-context"]
            for section, inner in SECTIONS:
                for entry in data.get(section) or []:
                    name = entry.get("name") if isinstance(entry, dict) else None
                    if isinstance(name, str) and name not in entries[section]:
                        body = entry.get(inner)
                        entries[section][name] = dict(body) if isinstance(body, dict) else {}
                        origins[section][name] = p
        return cls(paths, explicit is not None, files, entries, origins, current)

    def default_file(self) -> Path:
        """Where a new entry goes: the explicit file, the only/first existing file of the
        list, else its last one (clientcmd's GetDefaultFilename)."""
        if self.explicit or len(self.paths) == 1:
            return self.paths[0]
        for p in self.paths:
            if p.exists():
                return p
        return self.paths[-1]

    def set_entry(self, section: str, name: str, body: dict[str, Any]) -> None:
        target = self.origins[section].get(name) or self.default_file()
        data = self._file(target)
        inner = dict(SECTIONS)[section]
        items = [e for e in (data.get(section) or []) if isinstance(e, dict)]
        for e in items:
            if e.get("name") == name:
                e[inner] = body
                break
        else:
            items.append({"name": name, inner: body})
        data[section] = items
        self.entries[section][name] = body
        self.origins[section][name] = target
        write_kubeconfig(target, data)

    def delete_entry(self, section: str, name: str) -> Path:
        target = self.origins[section][name]
        data = self._file(target)
        data[section] = [e for e in (data.get(section) or [])
                         if not (isinstance(e, dict) and e.get("name") == name)]
        del self.entries[section][name], self.origins[section][name]
        write_kubeconfig(target, data)
        return target

    def set_current_context(self, name: str) -> None:
        """To the explicit file, else the first file that sets one, else the first existing
        file, else the last of the list (clientcmd's writeCurrentContext)."""
        if self.explicit:
            target = self.paths[0]
        else:
            target = next((p for p in self.paths if self.files.get(p, {}).get("current-context")),
                          None) or next((p for p in self.paths if p in self.files), self.paths[-1])
        data = self._file(target)
        data["current-context"] = name
        self.current_context = name
        write_kubeconfig(target, data)

    def _file(self, path: Path) -> dict[str, Any]:
        return self.files.setdefault(path, {})

    def context(self, name: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """The named context (``--context``), else the current one; None when neither is set."""
        chosen = name or self.current_context
        if not chosen:
            return None
        ctx = self.entries["contexts"].get(chosen)
        if ctx is None:
            if name:
                raise KubeconfigError(f"context was not found for specified context: {name}")
            return None
        return chosen, ctx


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    env = os.environ.get("KUBECONFIG", "")
    seen: list[Path] = []
    for part in env.split(os.pathsep):
        if part and Path(part) not in seen:
            seen.append(Path(part))
    return seen or [Path.home() / ".kube" / "config"]


def _read_kubeconfig(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KubeconfigError(f'error loading config file "{path}": {exc.strerror}') from exc
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise KubeconfigError(f'error loading config file "{path}": {reason}') from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f'error loading config file "{path}": not a kubeconfig '
                              f"(a mapping is expected, not {type(data).__name__})")
    for section, _ in SECTIONS:
        if data.get(section) is not None and not isinstance(data[section], list):
            raise KubeconfigError(f'error loading config file "{path}": {section} must be a list')
    return data


def normalized_kubeconfig(data: dict[str, Any]) -> dict[str, Any]:
    """The file as kubectl writes it: every section present (null when empty), contexts with
    their ``cluster`` and ``user``, clusters with their ``server``."""
    out: dict[str, Any] = {k: v for k, v in data.items()
                           if k not in ("preferences",) or v}
    out["apiVersion"] = data.get("apiVersion") or "v1"
    out["kind"] = data.get("kind") or "Config"
    out["current-context"] = data.get("current-context") or ""
    for section, inner in SECTIONS:
        items = []
        for e in data.get(section) or []:
            if not isinstance(e, dict):
                continue
            body = dict(e.get(inner) or {})
            if section == "contexts":
                body.setdefault("cluster", "")
                body.setdefault("user", "")
            elif section == "clusters":
                body.setdefault("server", "")
            items.append({"name": e.get("name", ""), inner: body})
        out[section] = sorted(items, key=lambda e: str(e["name"])) or None
    return out


def write_kubeconfig(path: Path, data: dict[str, Any]) -> None:
    """YAML with sorted keys, mode 0600, parent directories made (as kubectl writes it)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def choose_scalar_style(self) -> Any:
            style = super().choose_scalar_style()
            return '"' if style == "'" else style

    text = yaml.dump(normalized_kubeconfig(data), Dumper=_Dumper, sort_keys=True,
                     default_flow_style=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class CliConfig:
    """What minictl talks to: server, token and the default namespace (None: ``default``)."""

    server: str
    token: str | None
    namespace: str | None
    context: str | None


def resolve_cli(server_flag: str | None = None, kubeconfig: str | None = None,
                context: str | None = None) -> CliConfig:
    """``--server``, else the kubeconfig's context (``--context`` or current-context;
    ``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``), else the older sources
    of ``load_config`` (``$MINIK8S_SERVER``, ``~/.minik8s/config``, the default)."""
    if kubeconfig and not Path(kubeconfig).exists():
        raise KubeconfigError(f"stat {kubeconfig}: no such file or directory")
    kc = Kubeconfig.load(kubeconfig)
    picked = kc.context(context)
    server = token = namespace = name = None
    if picked is not None:
        name, ctx = picked
        cluster = kc.entries["clusters"].get(str(ctx.get("cluster") or ""), {})
        user = kc.entries["users"].get(str(ctx.get("user") or ""), {})
        server = cluster.get("server") if isinstance(cluster.get("server"), str) else None
        token = user.get("token") if isinstance(user.get("token"), str) else None
        ns = ctx.get("namespace")
        namespace = ns if isinstance(ns, str) and ns else None
    base = load_config(server_flag or server or None, token=token or None)
    return CliConfig(base.server, base.token, namespace, name)
