"""``minictl describe ingress`` and ``describe ingressclass``, as kubectl's IngressDescriber
(describeIngressV1: address, class, default backend, TLS, the rules with each backend's
endpoints from its Service's EndpointSlices) and IngressClassDescriber. The Ingress's text
goes through one tabwriter, as kubectl's does, so the rule table and the lines after it
share their first column."""

from __future__ import annotations

from typing import Any

from api.models.core import Service, TypedObject
from api.models.discovery import EndpointSlice
from api.models.networking import Ingress, IngressClass
from api.wellknown import LAST_APPLIED_CONFIG_ANNOTATION
from cli.context import State
from cli.describe import (
    EXTRA_DESCRIBERS,
    NONE,
    events_for,
    events_section,
    format_endpoint_slices,
    tabwrite,
)
from client.errors import ApiError


def _multiline(title: str, data: dict[str, str] | None, sep: str) -> list[str]:
    """printLabelsMultiline / printAnnotationsMultiline."""
    items = sorted((data or {}).items())
    if not items:
        return [f"{title}:\t{NONE}"]
    return [f"{title}:\t{k}{sep}{v}" if i == 0 else f"\t{k}{sep}{v}"
            for i, (k, v) in enumerate(items)]


def _service_backend(svc: dict[str, Any]) -> str:
    port = svc.get("port") or {}
    return f"{svc.get('name') or ''}:{port.get('number') or port.get('name') or ''}"


def describe_backend(st: State, ns: str, backend: dict[str, Any] | None) -> str:
    """describeBackendV1: ``svc:port (endpoints)``, or the resource it names."""
    if not backend:
        return ""
    svc = backend.get("service")
    if svc:
        sb = _service_backend(svc)
        name = str(svc.get("name") or "")
        try:
            slices = st.client.list(EndpointSlice, ns,
                                    label_selector=f"kubernetes.io/service-name={name}").items
            service = st.client.get(Service, name, ns)
        except ApiError as e:
            return f"{sb} (<error: {e.message}>)"
        port = svc.get("port") or {}
        sp_name = ""
        for sp in service.spec.ports or []:
            if (port.get("number") and port.get("number") == sp.port) or \
                    (port.get("name") and port.get("name") == sp.name):
                sp_name = sp.name or ""
        return f"{sb} ({format_endpoint_slices(slices, {sp_name})})"
    res = backend.get("resource")
    if res:
        group = res.get("apiGroup") if res.get("apiGroup") is not None else NONE
        return f"APIGroup: {group}, Kind: {res.get('kind') or ''}, Name: {res.get('name') or ''}"
    return ""


def _address(status: dict[str, Any] | None) -> str:
    lb = (status or {}).get("loadBalancer") or {}
    return ",".join(str(i.get("ip") or i.get("hostname") or "")
                    for i in lb.get("ingress") or [] if i.get("ip") or i.get("hostname"))


def describe_ingress(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, Ingress)
    d = obj.to_dict()
    md = d.get("metadata") or {}
    spec = d.get("spec") or {}
    ns = str(md.get("namespace") or "")
    lines = [f"Name:\t{md.get('name') or ''}", *_multiline("Labels", md.get("labels"), "="),
             f"Namespace:\t{ns}", f"Address:\t{_address(d.get('status'))}",
             f"Ingress Class:\t{spec.get('ingressClassName') or NONE}"]
    default = spec.get("defaultBackend")
    lines.append(f"Default backend:\t{describe_backend(st, ns, default)}" if default
                 else "Default backend:\t<default>")
    if spec.get("tls"):
        lines.append("TLS:")
        for t in spec["tls"]:
            hosts = ",".join(t.get("hosts") or [])
            lines.append(f"  SNI routes {hosts}" if not t.get("secretName")
                         else f"  {t['secretName']} terminates {hosts}")
    lines += ["Rules:", "  Host\tPath\tBackends", "  ----\t----\t--------"]
    count = 0
    for rule in spec.get("rules") or []:
        http = rule.get("http")
        if http is None:
            continue
        count += 1
        lines.append(f"  {rule.get('host') or '*'}\t")
        for p in http.get("paths") or []:
            lines.append(f"    \t{p.get('path') or ''} \t{describe_backend(st, ns, p.get('backend'))}")
    if count == 0:
        lines.append(f"  *\t*\t{describe_backend(st, ns, default)}")
    ann = {k: v for k, v in (md.get("annotations") or {}).items()
           if k != LAST_APPLIED_CONFIG_ANNOTATION}
    lines += _multiline("Annotations", ann, ": ")
    events = events_for(st, obj)
    if events is not None and not events:
        lines.append(f"Events:\t{NONE}")
        events = None
    return tabwrite("\n".join(lines)) + "\n" + events_section(events)


def describe_ingress_class(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, IngressClass)
    d = obj.to_dict()
    md = d.get("metadata") or {}
    spec = d.get("spec") or {}
    lines = [f"Name:\t{md.get('name') or ''}", *_multiline("Labels", md.get("labels"), "="),
             *_multiline("Annotations", {k: v for k, v in (md.get("annotations") or {}).items()
                                          if k != LAST_APPLIED_CONFIG_ANNOTATION}, ": "),
             f"Controller:\t{spec.get('controller') or ''}"]
    params = spec.get("parameters")
    if params:
        lines.append("Parameters:")
        if params.get("apiGroup") is not None:
            lines.append(f"  APIGroup:\t{params['apiGroup']}")
        lines += [f"  Kind:\t{params.get('kind') or ''}", f"  Name:\t{params.get('name') or ''}"]
    events = events_for(st, obj)
    if events is not None and not events:
        lines.append(f"Events:\t{NONE}")
        events = None
    return tabwrite("\n".join(lines)) + "\n" + events_section(events)


EXTRA_DESCRIBERS.update({Ingress: describe_ingress, IngressClass: describe_ingress_class})
