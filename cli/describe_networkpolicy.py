"""``minictl describe networkpolicy``, as kubectl's NetworkPolicyDescriber
(describeNetworkPolicy): name, namespace, creation time, labels and annotations, then the
spec: the pod selector, each ingress and egress rule's ports and peers, the policy
types."""

from __future__ import annotations

from typing import Any

from api import printers
from api.models.core import TypedObject
from api.models.networkpolicy import NetworkPolicy
from api.timeutil import parse_time
from cli.context import State
from cli.describe import EXTRA_DESCRIBERS, Writer

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _sel(sel: Any) -> str:
    return printers.format_label_selector(sel)


def _created(ts: str | None) -> str:
    """metav1.Time's String(): ``2006-01-02 15:04:05 +0000 UTC``."""
    if not ts:
        return "0001-01-01 00:00:00 +0000 UTC"
    try:
        return parse_time(ts).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    except ValueError:
        return ts


def _rules(lines: list[str], rules: list[dict[str, Any]], peers_key: str, word: str,
           direction: str) -> None:
    """printNetworkPolicySpecIngressFrom / printNetworkPolicySpecEgressTo."""
    ind = "    "
    if not rules:
        lines.append(f"{ind}<none> (Selected pods are isolated for {direction} connectivity)")
        return
    for i, rule in enumerate(rules):
        ports = rule.get("ports") or []
        if not ports:
            lines.append(f"{ind}To Port: <any> (traffic allowed to all ports)")
        for p in ports:
            port, end = p.get("port"), p.get("endPort")
            proto = p.get("protocol") or "TCP"
            if end is not None:
                lines.append(f"{ind}To Port Range: {port}-{end}/{proto}")
            else:
                lines.append(f"{ind}To Port: {'<nil>' if port is None else port}/{proto}")
        peers = rule.get(peers_key) or []
        if not peers:
            lines.append(f"{ind}{word}: <any> (traffic not restricted by "
                         f"{'source' if word == 'From' else 'destination'})")
        for peer in peers:
            lines.append(f"{ind}{word}:")
            ps, nss, block = (peer.get("podSelector"), peer.get("namespaceSelector"),
                              peer.get("ipBlock"))
            if ps is not None and nss is not None:
                lines.append(f"  {ind}NamespaceSelector: {_sel(nss)}")
                lines.append(f"  {ind}PodSelector: {_sel(ps)}")
            elif ps is not None:
                lines.append(f"  {ind}PodSelector: {_sel(ps)}")
            elif nss is not None:
                lines.append(f"  {ind}NamespaceSelector: {_sel(nss)}")
            elif block is not None:
                lines.append(f"  {ind}IPBlock:")
                lines.append(f"    {ind}CIDR: {block.get('cidr', '')}")
                lines.append(f"    {ind}Except: {', '.join(block.get('except') or [])}")
        if i != len(rules) - 1:
            lines.append(f"{ind}----------")


def describe_networkpolicy(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, NetworkPolicy)
    w = Writer()
    md = obj.metadata
    w.kv(0, "Name", md.name)
    w.kv(0, "Namespace", md.namespace)
    w.kv(0, "Created on", _created(md.creation_timestamp))
    w.map(0, "Labels", md.labels)
    w.map(0, "Annotations", {k: v for k, v in (md.annotations or {}).items()
                             if k != LAST_APPLIED}, ": ")
    spec = obj.to_dict().get("spec") or {}
    sel = spec.get("podSelector") or {}
    lines = ["Spec:"]
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        lines.append("  PodSelector:     <none> (Allowing the specific traffic to all pods in "
                     "this namespace)")
    else:
        lines.append(f"  PodSelector:     {_sel(sel)}")
    types = spec.get("policyTypes") or []
    # getPolicyType: the policyTypes given, else Ingress plus Egress when there are rules
    ingress = "Ingress" in types if types else True
    egress = "Egress" in types if types else bool(spec.get("egress"))
    if ingress:
        lines.append("  Allowing ingress traffic:")
        _rules(lines, spec.get("ingress") or [], "from", "From", "ingress")
    else:
        lines.append("  Not affecting ingress traffic")
    if egress:
        lines.append("  Allowing egress traffic:")
        _rules(lines, spec.get("egress") or [], "to", "To", "egress")
    else:
        lines.append("  Not affecting egress traffic")
    lines.append(f"  Policy Types: {', '.join(types)}")
    for line in lines:
        w.raw(line)
    return w.render()


EXTRA_DESCRIBERS.update({NetworkPolicy: describe_networkpolicy})
