"""The AdmissionConfiguration file (``--admission-control-config-file``; kube-apiserver's
staging/src/k8s.io/apiserver/pkg/admission/config.go): per plugin by name, its
configuration object, embedded (``configuration:``) or in a file of its own (``path:``,
relative to the AdmissionConfiguration's directory). A plugin reads its entry when the
chain is built (``plugin_configuration``); an unreadable or undecodable file stops the
server with a ValueError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1alpha1",
                "apiserver.k8s.io/v1alpha1")
KIND = "AdmissionConfiguration"


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise ValueError(f"unable to read {what} from {str(path)!r} [{e}]") from None
    except yaml.YAMLError as e:
        raise ValueError(f"unable to decode {what} {str(path)!r}: {e}") from None


def read(path: str | None) -> dict[str, Any]:
    """Plugin name -> its configuration object (None: the entry names neither
    ``configuration`` nor ``path``). No file: no entries."""
    if not path:
        return {}
    p = Path(path)
    doc = _read_yaml(p, "admission control configuration")
    if not isinstance(doc, dict) or doc.get("kind") != KIND or \
            doc.get("apiVersion") not in API_VERSIONS:
        got = (doc.get("apiVersion"), doc.get("kind")) if isinstance(doc, dict) else doc
        raise ValueError(f"{path}: expected {KIND} ({', '.join(API_VERSIONS)}), got {got}")
    out: dict[str, Any] = {}
    for i, entry in enumerate(doc.get("plugins") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{path}: plugins[{i}]: a name is required")
        name = entry["name"]
        if name in out:
            continue  # the first entry of a name wins (ConfigFor)
        if entry.get("configuration") is not None:
            out[name] = entry["configuration"]
        elif entry.get("path"):
            cp = Path(str(entry["path"]))
            out[name] = _read_yaml(cp if cp.is_absolute() else p.parent / cp,
                                   f"admission plugin {name}'s configuration")
        else:
            out[name] = None
    return out


def plugin_configuration(state: Any, name: str) -> Any:
    """The configuration object of plugin ``name`` from the server's
    --admission-control-config-file (None without one)."""
    cfg = getattr(state, "config", None)
    return read(getattr(cfg, "admission_control_config_file", None)).get(name)
