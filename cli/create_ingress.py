"""``minictl create ingress NAME --rule=host/path=service:port[,tls[=secret]]
[--class=C] [--default-backend=svc:port] [--annotation=k=v]``, as kubectl's
create_ingress.go: the same rule syntax (a path ending in ``*`` is a Prefix path, else
Exact), rules of one host merged, one TLS entry per secret, and its messages."""

from __future__ import annotations

import re
from typing import Any

import click

from api import resources
from api.models.networking import Ingress
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common

_HOST_PATH_SVC = r"^(?P<host>[\w\*\-\.]*)(?P<path>/.*)=(?P<svcname>[\w\-]+):(?P<svcport>[\w\-]+)"
_TLS = r"(,(?P<istls>tls)=?(?P<secretname>[\w\-]+)?)?"
_RULE = re.compile(_HOST_PATH_SVC + _TLS)


def _port(port: str) -> dict[str, Any]:
    """intstr.Parse: a number is a port number, anything else a port name."""
    try:
        return {"number": int(port)}
    except ValueError:
        return {"name": port}


def _backend(service: str) -> dict[str, Any]:
    name, port = service.split(":")[0], service.split(":")[1]
    return {"service": {"name": name, "port": _port(port)}}


def _path(pathsvc: str) -> dict[str, Any]:
    parts = pathsvc.split("=")
    path, service = "/" + parts[0], parts[1]
    ptype = "Exact"
    if path.endswith("*"):
        ptype, path = "Prefix", path[:-1]
    return {"path": path, "pathType": ptype, "backend": _backend(service)}


def build_ingress(name: str, rules: tuple[str, ...], ingress_class: str, default_backend: str,
                  annotations: tuple[str, ...]) -> dict[str, Any]:
    if not default_backend and not rules:
        raise CliError("not enough information provided: every ingress has to either "
                       "specify a default-backend (which catches all traffic) or a list of "
                       "rules (which catch specific paths)")
    for r in rules:
        if not _RULE.match(r):
            raise CliError(f"rule {r} is invalid and should be in format "
                           "host/path=svcname:svcport[,tls[=secret]]")
    for a in annotations:
        if len(a.split("=", 1)) != 2:
            raise CliError(f"annotation {a} is invalid and should be in format key=[value]")
    if default_backend and len(default_backend.split(":")) != 2:
        raise CliError("default-backend should be in format servicename:serviceport")
    spec: dict[str, Any] = {}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    if default_backend:
        spec["defaultBackend"] = _backend(default_backend)
    tls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rules:
        parts = r.split(",")
        if len(parts) != 2:
            continue
        host = r.split("/", 1)[0]
        secret_parts = parts[1].split("=")
        secret = secret_parts[1] if len(secret_parts) > 1 else ""
        if host in seen:
            continue
        idx = next((i for i, t in enumerate(tls) if t.get("secretName", "") == secret), -1)
        seen.add(host)
        if idx > -1:
            tls[idx].setdefault("hosts", []).append(host)
            continue
        entry: dict[str, Any] = {}
        if host:
            entry["hosts"] = [host]
        if secret:
            entry["secretName"] = secret
        if entry:
            tls.append(entry)
    if tls:
        spec["tls"] = tls
    out_rules: list[dict[str, Any]] = []
    for r in rules:
        host, rest = r.split(",")[0].split("/", 1)
        p = _path(rest)
        found = next((x for x in out_rules if x.get("host", "") == host), None)
        if found is not None:
            found["http"]["paths"].append(p)
            continue
        rule: dict[str, Any] = {"http": {"paths": [p]}}
        if host:
            rule = {"host": host, **rule}
        out_rules.append(rule)
    if out_rules:
        spec["rules"] = out_rules
    meta: dict[str, Any] = {"name": name}
    ann = dict(a.split("=", 1) for a in annotations)
    if ann:
        meta["annotations"] = ann
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


@create_cmd.command("ingress")
@click.argument("name")
@click.option("--rule", "rules", multiple=True,
              help="Rule in format host/path=service:port[,tls=secretname]. Paths "
                   "containing the leading character '*' are considered pathType=Prefix. "
                   "tls argument is optional.")
@click.option("--class", "ingress_class", default="", help="Ingress Class to be used")
@click.option("--default-backend", default="",
              help="Default service for backend, in format of svcname:port")
@click.option("--annotation", "annotations", multiple=True,
              help="Annotation to insert in the ingress object, in the format "
                   "annotation=value")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_ingress(name: str, rules: tuple[str, ...], ingress_class: str,
                   default_backend: str, annotations: tuple[str, ...], output_: str | None,
                   dry_run: str) -> None:
    """Create an ingress with the specified name.

    \b
    Examples:
      minictl create ingress simple --rule="foo.com/bar=svc1:8080,tls=my-cert"
      minictl create ingress catch-all --class=otheringress --rule="/path=svc:port"
      minictl create ingress web --class=nginx --rule="web.localhost/*=web:80"
      minictl create ingress ingdefault --class=default --default-backend=defaultsvc:http \\
          --rule="foo.com/*=svc:8080,tls=secret1"
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    ing = Ingress.from_dict(build_ingress(name, rules, ingress_class, default_backend,
                                          annotations))
    created = _send(st, resources.INGRESSES, ing, st.namespace, mode)
    _emit(resources.INGRESSES, created, fmt, mode)


create_cmd.add_command(create_ingress, "ing")
