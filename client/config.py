"""Where the API server is and how to authenticate to it.

Order, most specific first: an explicit ``--server``, ``$MINIK8S_SERVER``, the file
``~/.minik8s/config`` (or ``$MINIK8S_CONFIG``), then ``http://127.0.0.1:8080``.

minictl (``resolve_cli``) puts kubectl's kubeconfig files first, after ``--server``: the
current context (or ``--context``) of ``--kubeconfig``, else ``$KUBECONFIG``'s list, else
``~/.kube/config`` gives the server, token and default namespace. The services never read
kubeconfig files, so a user's ``~/.kube/config`` cannot move them: a service reads only the
kubeconfig named by its ``--kubeconfig`` (``service_config``), or, run in a pod with no flag,
the in-cluster config (``in_cluster_config``: the kubernetes Service's address from the
environment and the ServiceAccount files the kubelet projects).

TLS as client-go's rest.Config: the CA (``certificate-authority[-data]``), a client
certificate and key (``client-certificate[-data]``, ``client-key[-data]``), or
``insecure-skip-tls-verify``; ``ClientConfig.ssl_context()`` builds the one SSLContext the
REST client, exec and port-forward use. A token from ``tokenFile`` (a projected token that
the kubelet rotates) is re-read when the file changes.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class TokenFile:
    """A bearer token read from a file, re-read when the file changes (looked at no more
    than once a second: a projected ServiceAccount token is rewritten before it expires)."""

    CHECK_SECONDS = 1.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._token: str | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> str | None:
        now = time.monotonic()
        if self._token is not None and now - self._checked < self.CHECK_SECONDS:
            return self._token
        with self._lock:
            self._checked = now
            try:
                st = self.path.stat()
                stamp = (st.st_mtime_ns, st.st_ino)
                if stamp != self._stamp or self._token is None:
                    self._token = self.path.read_text().strip() or None
                    self._stamp = stamp
            except OSError:
                pass  # keep the last token we read: the file is being replaced
            return self._token


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    cert_data: bytes | None = None
    key_file: str | None = None
    key_data: bytes | None = None
    insecure: bool = False
    namespace: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, compare=False,
                                   repr=False)

    @property
    def is_tls(self) -> bool:
        return self.server.startswith("https://")

    def token_source(self) -> TokenFile | None:
        """The token file's reader (one per config), when the token comes from a file."""
        if self.token or not self.token_file:
            return None
        src = self._cache.get("token_file")
        if src is None:
            src = self._cache["token_file"] = TokenFile(self.token_file)
        return src

    def bearer(self) -> str | None:
        src = self.token_source()
        return src.get() if src is not None else self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The SSLContext for an https server (made once per config), None for http."""
        if not self.is_tls:
            return None
        ctx = self._cache.get("ssl")
        if ctx is None:
            ctx = self._cache["ssl"] = make_ssl_context(self)
        return ctx


class TLSConfigError(ValueError):
    """Unreadable CA, certificate or key (one line, names the file)."""


def make_ssl_context(cfg: ClientConfig) -> ssl.SSLContext:
    """TLS 1.2+; the server verified against the CA given (else the system's), its name
    checked, unless ``insecure``; the client certificate and key when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            if cfg.ca_data:
                ctx.load_verify_locations(cadata=cfg.ca_data.decode())
            elif cfg.ca_file:
                ctx.load_verify_locations(cafile=cfg.ca_file)
            else:
                ctx.load_default_certs()
        except (OSError, ssl.SSLError, UnicodeDecodeError) as exc:
            where = cfg.ca_file or "certificate-authority-data"
            raise TLSConfigError(f"unable to load root certificates from {where}: "
                                 f"{_reason(exc)}") from exc
    if cfg.cert_data or cfg.cert_file or cfg.key_data or cfg.key_file:
        _load_client_cert(ctx, cfg)
    return ctx


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)


def _load_client_cert(ctx: ssl.SSLContext, cfg: ClientConfig) -> None:
    if not (cfg.cert_data or cfg.cert_file) or not (cfg.key_data or cfg.key_file):
        raise TLSConfigError("client-key-data or client-key must be specified for "
                             "client-certificate-data or client-certificate (and the "
                             "other way round)")
    # ssl loads a certificate chain from files only: embedded data goes through a private
    # temporary directory that is gone once loaded (as the official Python client does).
    with tempfile.TemporaryDirectory(prefix="minik8s-tls-") as tmp:
        cert = cfg.cert_file
        key = cfg.key_file
        if cfg.cert_data:
            cert = os.path.join(tmp, "client.crt")
            _write_private(Path(cert), cfg.cert_data)
        if cfg.key_data:
            key = os.path.join(tmp, "client.key")
            _write_private(Path(key), cfg.key_data)
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"unable to load the client certificate "
                                 f"({cfg.cert_file or 'client-certificate-data'}) and key "
                                 f"({cfg.key_file or 'client-key-data'}): {_reason(exc)}") from exc


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


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
        out.update(_from_kubeconfig(data, p.parent))
    return out


def _named(entries: Any, name: str | None, inner: str) -> dict[str, Any]:
    if not isinstance(entries, list) or not entries:
        return {}
    chosen = next((e for e in entries if isinstance(e, dict) and e.get("name") == name),
                  entries[0])
    value = chosen.get(inner) if isinstance(chosen, dict) else None
    return value if isinstance(value, dict) else {}


def _from_kubeconfig(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    ctx = _named(data.get("contexts"), data.get("current-context"), "context")
    cluster = _named(data.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(data.get("users"), ctx.get("user"), "user")
    out: dict[str, Any] = {}
    if isinstance(cluster.get("server"), str):
        out["server"] = cluster["server"]
    if isinstance(user.get("token"), str):
        out["token"] = user["token"]
    out["tls"] = credential_fields(cluster, user, base_dir)
    return out


def _b64(value: Any, what: str) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    import base64
    import binascii

    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KubeconfigError(f"{what}: illegal base64 data") from exc


def _path(value: Any, base_dir: Path) -> str | None:
    """A file named by a kubeconfig, relative to the kubeconfig's directory (clientcmd's
    ResolvePaths)."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else base_dir / p)


def credential_fields(cluster: dict[str, Any], user: dict[str, Any],
                      base_dir: Path) -> dict[str, Any]:
    """ClientConfig's TLS and token-file fields from a kubeconfig's cluster and user entries
    (the ``*-data`` fields win over the files, as in client-go)."""
    out: dict[str, Any] = {
        "ca_data": _b64(cluster.get("certificate-authority-data"),
                        "certificate-authority-data"),
        "ca_file": _path(cluster.get("certificate-authority"), base_dir),
        "insecure": cluster.get("insecure-skip-tls-verify") is True,
        "cert_data": _b64(user.get("client-certificate-data"), "client-certificate-data"),
        "cert_file": _path(user.get("client-certificate"), base_dir),
        "key_data": _b64(user.get("client-key-data"), "client-key-data"),
        "key_file": _path(user.get("client-key"), base_dir),
        "token_file": _path(user.get("tokenFile"), base_dir),
    }
    if out["ca_data"]:
        out["ca_file"] = None
    if out["cert_data"]:
        out["cert_file"] = None
    if out["key_data"]:
        out["key_file"] = None
    return {k: v for k, v in out.items() if v}


def resolve_server(explicit: str | None = None) -> str:
    return load_config(explicit).server


def load_config(explicit_server: str | None = None, *, token: str | None = None,
                path: Path | None = None) -> ClientConfig:
    try:
        file_cfg = read_config_file(path)
    except KubeconfigError:
        file_cfg = {}
    server = (explicit_server or os.environ.get("MINIK8S_SERVER") or file_cfg.get("server")
              or DEFAULT_SERVER)
    tok = token or os.environ.get("MINIK8S_TOKEN") or file_cfg.get("token")
    return ClientConfig(server=normalize_server(server), token=tok or None,
                        **file_cfg.get("tls", {}))


def kubeconfig_config(path: str | Path, context: str | None = None,
                      server: str | None = None) -> ClientConfig:
    """The client config of one kubeconfig file (a service's ``--kubeconfig``): its
    ``--context`` or current context; ``server`` (``--server``) replaces the cluster's."""
    p = Path(path)
    if not p.exists():
        raise KubeconfigError(f"stat {p}: no such file or directory")
    kc = Kubeconfig.load(str(p))
    picked = kc.context(context)
    if picked is None:
        raise KubeconfigError(f"invalid configuration: no current context in {p}")
    _, ctx = picked
    return _context_config(kc, ctx, server)


def _context_config(kc: Kubeconfig, ctx: dict[str, Any], server: str | None,
                    token: str | None = None) -> ClientConfig:
    cname, uname = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    cluster = kc.entries["clusters"].get(cname, {})
    user = kc.entries["users"].get(uname, {})
    base_cluster = kc.origins["clusters"].get(cname, kc.paths[0]).parent
    base_user = kc.origins["users"].get(uname, kc.paths[0]).parent
    fields = credential_fields(cluster, {}, base_cluster)
    fields.update(credential_fields({}, user, base_user))
    srv = server or (cluster.get("server") if isinstance(cluster.get("server"), str) else None)
    if not srv:
        raise KubeconfigError("invalid configuration: no server found for cluster "
                              f'"{cname}"')
    tok = token or (user.get("token") if isinstance(user.get("token"), str) else None)
    ns = ctx.get("namespace")
    return ClientConfig(server=normalize_server(srv), token=tok or None,
                        namespace=ns if isinstance(ns, str) and ns else None, **fields)


def in_cluster_config(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> ClientConfig | None:
    """rest.InClusterConfig: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``,
    the projected token (re-read as it rotates), ``ca.crt`` and ``namespace``; None outside
    a pod (no such environment or no token)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    token = sa_dir / "token"
    if not host or not port or not token.exists():
        return None
    if ":" in host:
        host = f"[{host}]"
    ca = sa_dir / "ca.crt"
    try:
        ns = (sa_dir / "namespace").read_text().strip() or None
    except OSError:
        ns = None
    return ClientConfig(server=f"https://{host}:{port}", token_file=str(token),
                        ca_file=str(ca) if ca.exists() else None, namespace=ns)


def service_config(server: str | None = None, kubeconfig: str | None = None) -> ClientConfig:
    """What a service (scheduler, controller-manager, kubelet, proxy, DNS) talks to:
    ``--kubeconfig`` (``--server`` replaces its server), else ``--server``/``$MINIK8S_SERVER``,
    else the in-cluster config when run in a pod, else ``~/.minik8s/config`` or the default.
    Never ``~/.kube/config``."""
    if kubeconfig:
        return kubeconfig_config(kubeconfig, server=server)
    if not server and not os.environ.get("MINIK8S_SERVER"):
        cfg = in_cluster_config()
        if cfg is not None:
            return cfg
    return load_config(server)


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
    """What minictl talks to: server, token and the default namespace (None: ``default``),
    and the whole client config (TLS, token file) in ``client``."""

    server: str
    token: str | None
    namespace: str | None
    context: str | None
    client: ClientConfig | None = None


def resolve_cli(server_flag: str | None = None, kubeconfig: str | None = None,
                context: str | None = None,
                overrides: dict[str, Any] | None = None) -> CliConfig:
    """``--server``, else the kubeconfig's context (``--context`` or current-context;
    ``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``), else the older sources
    of ``load_config`` (``$MINIK8S_SERVER``, ``~/.minik8s/config``, the default).
    ``overrides``: kubectl's flags (``--certificate-authority`` -> ca_file,
    ``--client-certificate`` -> cert_file, ``--client-key`` -> key_file, ``--token``,
    ``--insecure-skip-tls-verify`` -> insecure), over what the kubeconfig says."""
    if kubeconfig and not Path(kubeconfig).exists():
        raise KubeconfigError(f"stat {kubeconfig}: no such file or directory")
    kc = Kubeconfig.load(kubeconfig)
    picked = kc.context(context)
    name = None
    cfg: ClientConfig | None = None
    if picked is not None:
        name, ctx = picked
        cluster = kc.entries["clusters"].get(str(ctx.get("cluster") or ""), {})
        if server_flag or (isinstance(cluster.get("server"), str) and cluster["server"]):
            cfg = _context_config(kc, ctx, server_flag)
            if not cfg.token and os.environ.get("MINIK8S_TOKEN") and not cfg.token_file:
                cfg = replace(cfg, token=os.environ["MINIK8S_TOKEN"])
    if cfg is None:
        cfg = load_config(server_flag)
        if picked is not None:
            ns = picked[1].get("namespace")
            cfg = replace(cfg, namespace=ns if isinstance(ns, str) and ns else None)
    o = {k: v for k, v in (overrides or {}).items() if v not in (None, "", False)}
    if o:
        if o.get("token"):
            o["token_file"] = None
        if o.get("insecure"):
            o.setdefault("ca_file", None)
            o["ca_data"] = None
        if o.get("ca_file"):
            o["ca_data"] = None
        if o.get("cert_file"):
            o["cert_data"] = None
        if o.get("key_file"):
            o["key_data"] = None
        cfg = replace(cfg, **o)
    if cfg.insecure and (cfg.ca_file or cfg.ca_data):
        raise KubeconfigError("specifying a root certificates file with the insecure flag "
                              "is not allowed")
    return CliConfig(cfg.server, cfg.bearer(), cfg.namespace, name, cfg)


KUBECONFIG_FLAG_HELP = ("kubeconfig file with the API server's address, CA and this service's "
                        "credentials (never ~/.kube/config unless named here)")


def config_from_flags(server: str | None, kubeconfig: str | None, prog: str) -> ClientConfig:
    """``service_config`` for a service's main: a bad kubeconfig, CA, certificate or key
    ends the process with one line naming the problem."""
    try:
        cfg = service_config(server, kubeconfig)
        cfg.ssl_context()
    except (KubeconfigError, TLSConfigError) as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    return cfg
