"""Where the API server is and how to authenticate to it.

Order, most specific first: an explicit ``--server``, ``$MINIK8S_SERVER``, the file
``~/.minik8s/config`` (or ``$MINIK8S_CONFIG``), then ``http://127.0.0.1:8080``.
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
