"""Services and Endpoints: ValidateService, ValidateServiceUpdate and ValidateEndpoints.

Ported from pkg/apis/core/validation/validation.go (ValidateService,
validateServicePort, validateClientIPAffinityConfig,
ValidateServiceClusterIPsRelatedFields, validateServiceExternalTrafficPolicy,
validateServiceInternalTrafficFieldsValue, validateUpgradeDowngradeClusterIPs,
validateEndpointSubsets, validateEndpointAddress, validateEndpointPort,
ValidateNonSpecialIP). What needs the cluster's configuration (the service CIDR, the
NodePort range, what is already allocated) is the API server's allocator's to check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from api.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_port_name,
    is_valid_port_num,
)
from api.validation.field import (
    JSON,
    Errs,
    FieldError,
    as_dict,
    as_int,
    as_list,
    as_str,
    at_index,
    child,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from api.validation.meta import validate_labels

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
IP_FAMILIES = ["IPv4", "IPv6"]
IP_FAMILY_POLICIES = ["PreferDualStack", "RequireDualStack", "SingleStack"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
CLUSTER_IP_NONE = "None"
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400  # core.MaxClientIPServiceAffinitySeconds
KUBELET_PORT = 10250
_IMMUTABLE = "field is immutable"
_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def dig(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


# ---- shared predicates (pkg/api/service/util.go, helpers in validation.go) -------------


def service_type(svc: JSON) -> str:
    t = dig(svc, "spec", "type")
    return t if isinstance(t, str) else ""


def cluster_ips(svc: JSON) -> list[str]:
    ips = dig(svc, "spec", "clusterIPs")
    return [str(ip) for ip in ips] if isinstance(ips, list) else []


def is_headless(svc: JSON) -> bool:
    """isHeadlessService: clusterIPs is exactly ["None"]."""
    return cluster_ips(svc) == [CLUSTER_IP_NONE]


def externally_accessible(svc: JSON) -> bool:
    """service.ExternallyAccessible: LoadBalancer, NodePort, or a ClusterIP Service with
    externalIPs."""
    t = service_type(svc)
    return t in ("LoadBalancer", "NodePort") or (
        t == "ClusterIP" and bool(dig(svc, "spec", "externalIPs")))


def needs_health_check(svc: JSON) -> bool:
    return service_type(svc) == "LoadBalancer" and \
        dig(svc, "spec", "externalTrafficPolicy") == "Local"


def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """netutils.ParseIPSloppy, without the leading-zero leniency."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _ip(errs: Errs, value: Any, path: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    ip = parse_ip(value)
    if ip is None:
        errs.append(invalid(path, value, _IP_MSG))
    return ip


def non_special_ip(value: str, path: str) -> Errs:
    """ValidateNonSpecialIP / ValidateEndpointIP: no unspecified, loopback or link-local
    addresses."""
    ip = parse_ip(value)
    if ip is None:
        return []
    if ip.is_unspecified:
        return [invalid(path, value, "may not be unspecified (0.0.0.0)")]
    if ip.is_loopback:
        return [invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")]
    if ip.is_link_local:
        return [invalid(path, value,
                        "may not be in the link-local range (169.254.0.0/16, fe80::/10)")]
    if ip.is_multicast and (ip in ipaddress.ip_network("224.0.0.0/24")
                            or ip in ipaddress.ip_network("ff02::/16")):
        return [invalid(path, value, "may not be in the link-local multicast range "
                                     "(224.0.0.0/24, ff02::/10)")]
    return []


def _dns1123_label(errs: Errs, value: str, path: str) -> None:
    for m in is_dns1123_label(value):
        errs.append(invalid(path, value, m))


def _qualified_name(errs: Errs, value: Any, path: str) -> None:
    if not isinstance(value, str):
        errs.append(invalid(path, value, "must be a string"))
        return
    for m in is_qualified_name(value):
        errs.append(invalid(path, value, m))


def _protocol(errs: Errs, value: Any, path: str) -> str:
    if value in (None, ""):
        errs.append(required(path))
        return ""
    if value not in PROTOCOLS:
        errs.append(not_supported(path, value, PROTOCOLS))
    return str(value)


def _port_num(errs: Errs, value: Any, path: str) -> int | None:
    n = as_int(errs, value, path)
    if n is None:
        if value is None:
            errs.append(required(path))
        return None
    for m in is_valid_port_num(n):
        errs.append(invalid(path, n, m))
    return n


def port_num_or_name(errs: Errs, value: Any, path: str) -> None:
    """ValidatePortNumOrName: 1-65535, or an IANA_SVC_NAME."""
    if isinstance(value, int) and not isinstance(value, bool):
        for m in is_valid_port_num(value):
            errs.append(invalid(path, value, m))
    elif isinstance(value, str):
        for m in is_valid_port_name(value):
            errs.append(invalid(path, value, m))
    elif value is None:
        errs.append(required(path))
    else:
        errs.append(invalid(path, value, "must be an integer or a string"))


# ---- Service ---------------------------------------------------------------------------


def _service_port(errs: Errs, sp: JSON, require_name: bool, names: set[str],
                  path: str) -> None:
    """validateServicePort."""
    name = as_str(errs, sp.get("name"), child(path, "name"))
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        _dns1123_label(errs, name, child(path, "name"))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        else:
            names.add(name)
    _port_num(errs, sp.get("port"), child(path, "port"))
    _protocol(errs, sp.get("protocol"), child(path, "protocol"))
    port_num_or_name(errs, sp.get("targetPort"), child(path, "targetPort"))
    if sp.get("appProtocol") is not None:
        _qualified_name(errs, sp.get("appProtocol"), child(path, "appProtocol"))
    node_port = sp.get("nodePort")
    if node_port is not None:
        n = as_int(errs, node_port, child(path, "nodePort"))
        if n is not None and n != 0:
            for m in is_valid_port_num(n):
                errs.append(invalid(child(path, "nodePort"), n, m))


def _client_ip_affinity(errs: Errs, config: Any, path: str) -> None:
    """validateClientIPAffinityConfig."""
    why = "when session affinity type is ClientIP"
    if config is None:
        errs.append(required(path, why))
        return
    cfg = as_dict(errs, config, path)
    if cfg.get("clientIP") is None:
        errs.append(required(child(path, "clientIP"), why))
        return
    cip = as_dict(errs, cfg.get("clientIP"), child(path, "clientIP"))
    tpath = child(path, "clientIP", "timeoutSeconds")
    if cip.get("timeoutSeconds") is None:
        errs.append(required(tpath, why))
        return
    t = as_int(errs, cip.get("timeoutSeconds"), tpath)
    if t is not None and not 0 < t <= MAX_CLIENT_IP_AFFINITY_SECONDS:
        errs.append(invalid(tpath, t, "must be greater than 0 and less than "
                                      f"{MAX_CLIENT_IP_AFFINITY_SECONDS}"))


def _cluster_ips_related(errs: Errs, svc: JSON, spec: JSON) -> None:
    """ValidateServiceClusterIPsRelatedFields."""
    if service_type(svc) == "ExternalName":
        return
    path = "spec.clusterIPs"
    cip = as_str(errs, spec.get("clusterIP"), "spec.clusterIP")
    ips = [str(x) for x in as_list(errs, spec.get("clusterIPs"), path)]
    if cip:
        if not ips:
            errs.append(required(path))
        elif ips[0] != cip:
            errs.append(invalid(path, ips, "first value must match `clusterIP`"))
    elif ips:
        errs.append(invalid(path, ips, "must be empty when `clusterIP` is not specified"))
    families = [str(x) for x in as_list(errs, spec.get("ipFamilies"), "spec.ipFamilies")]
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam not in IP_FAMILIES:
            errs.append(not_supported(at_index("spec.ipFamilies", i), fam, IP_FAMILIES))
        if fam in seen:
            errs.append(duplicate(at_index("spec.ipFamilies", i), fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    bad = False
    parsed = []
    for i, ip in enumerate(ips):
        if i == 0 and ip == CLUSTER_IP_NONE:
            if len(ips) > 1:
                bad = True
                errs.append(invalid(path, ips, "'None' must be the first and only value"))
            continue
        p = _ip(errs, ip, at_index(path, i))
        bad = bad or p is None
        parsed.append(p)
    if len(ips) > 2:
        errs.append(invalid(path, ips, "may only hold up to 2 values"))
    if bad:
        return
    if len(ips) > 1 and len({p.version for p in parsed if p is not None}) != len(ips):
        errs.append(invalid(path, ips, "may specify no more than one IP for each IP family"))
    if not is_headless(svc) and ips and families:
        for i, ip in enumerate(ips[: len(families)]):
            v = parse_ip(ip)
            if families[i] == "IPv4" and v is not None and v.version == 6:
                errs.append(invalid(at_index(path, i), ip, "expected an IPv4 value as "
                                                           f"indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and v is not None and v.version != 6:
                errs.append(invalid(at_index(path, i), ip, "expected an IPv6 value as "
                                                           f"indicated by `ipFamilies[{i}]`"))


def validate_service(obj: JSON) -> Errs:
    """ValidateService (the metadata is checked by the caller: a DNS-1035 name)."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    typ = service_type(obj)
    headless = is_headless(obj)
    ports = [as_dict(errs, p, at_index("spec.ports", i))
             for i, p in enumerate(as_list(errs, spec.get("ports"), "spec.ports"))]
    if not ports and not headless and typ != "ExternalName":
        errs.append(required("spec.ports"))
    ips = cluster_ips(obj)
    if typ == "LoadBalancer":
        if headless:
            errs.append(invalid("spec.clusterIPs[0]", ips[0],
                                "may not be set to 'None' for LoadBalancer services"))
        for i, p in enumerate(ports):
            if p.get("port") == KUBELET_PORT:
                errs.append(invalid(at_index("spec.ports", i), KUBELET_PORT,
                                    f"may not expose port {KUBELET_PORT} externally since it "
                                    "is used by kubelet"))
    elif typ == "NodePort":
        if headless:
            errs.append(invalid("spec.clusterIPs[0]", ips[0],
                                "may not be set to 'None' for NodePort services"))
    elif typ == "ExternalName":
        if ips:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy",
                                  "may not be set for ExternalName services"))
        cname = as_str(errs, spec.get("externalName"), "spec.externalName").removesuffix(".")
        if cname:
            for m in is_dns1123_subdomain(cname):
                errs.append(invalid("spec.externalName", cname, m))
        else:
            errs.append(required("spec.externalName"))

    names: set[str] = set()
    for i, p in enumerate(ports):
        _service_port(errs, p, len(ports) > 1, names, at_index("spec.ports", i))

    if spec.get("selector") is not None:
        errs += validate_labels(spec.get("selector"), "spec.selector")

    affinity = spec.get("sessionAffinity")
    if affinity in (None, ""):
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in SESSION_AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    if affinity == "ClientIP":
        _client_ip_affinity(errs, spec.get("sessionAffinityConfig"),
                            "spec.sessionAffinityConfig")
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden("spec.sessionAffinityConfig",
                              "must not be set when session affinity is None"))

    _cluster_ips_related(errs, obj, spec)

    for i, ip in enumerate(as_list(errs, spec.get("externalIPs"), "spec.externalIPs")):
        ipath = at_index("spec.externalIPs", i)
        if _ip(errs, ip, ipath) is not None:
            errs += non_special_ip(str(ip), ipath)

    if typ == "":
        errs.append(required("spec.type"))
    elif typ not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", typ, SERVICE_TYPES))

    if typ == "ClusterIP":
        for i, p in enumerate(ports):
            if p.get("nodePort") not in (None, 0):
                errs.append(forbidden(child(at_index("spec.ports", i), "nodePort"),
                                      "may not be used when `type` is 'ClusterIP'"))

    seen_node: set[tuple[Any, Any]] = set()
    seen_port: set[tuple[Any, Any]] = set()
    for i, p in enumerate(ports):
        path = at_index("spec.ports", i)
        np = p.get("nodePort")
        if isinstance(np, int) and np != 0:
            key = (p.get("protocol"), np)
            if key in seen_node:
                errs.append(duplicate(child(path, "nodePort"), np))
            seen_node.add(key)
        pkey = (p.get("protocol"), p.get("port"))
        if pkey in seen_port:
            errs.append(duplicate(path, {"port": p.get("port"),
                                         "protocol": p.get("protocol")}))
        seen_port.add(pkey)

    ranges = as_list(errs, spec.get("loadBalancerSourceRanges"),
                     "spec.loadBalancerSourceRanges")
    if ranges and typ != "LoadBalancer":
        errs.append(forbidden("spec.loadBalancerSourceRanges",
                              "may only be used when `type` is 'LoadBalancer'"))
    for i, cidr in enumerate(ranges):
        try:
            ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            errs.append(invalid(at_index("spec.loadBalancerSourceRanges", i), cidr,
                                "must be a list of IP ranges. For example, "
                                "10.240.0.0/24,10.250.0.0/24 "))

    if spec.get("allocateLoadBalancerNodePorts") is not None and typ != "LoadBalancer":
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts",
                              "may only be used when `type` is 'LoadBalancer'"))
    if typ == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("spec.allocateLoadBalancerNodePorts"))

    _load_balancer_class(errs, obj)
    _traffic_policies(errs, obj, spec)
    status = obj.get("status")
    if isinstance(status, Mapping) and status.get("loadBalancer") is not None:
        _load_balancer_status(errs, obj, status.get("loadBalancer"))
    return errs


def _load_balancer_class_update(errs: Errs, old: JSON, svc: JSON) -> None:
    if service_type(old) == "LoadBalancer" and service_type(svc) == "LoadBalancer" and \
            dig(old, "spec", "loadBalancerClass") != dig(svc, "spec", "loadBalancerClass"):
        errs.append(invalid("spec.loadBalancerClass", dig(svc, "spec", "loadBalancerClass"),
                            "may not change once set"))


def _load_balancer_class(errs: Errs, svc: JSON) -> None:
    """validateLoadBalancerClassField: a qualified name, only on a LoadBalancer (and
    fixed while the Service stays one: _load_balancer_class_update)."""
    cls = dig(svc, "spec", "loadBalancerClass")
    path = "spec.loadBalancerClass"
    if service_type(svc) == "LoadBalancer":
        if cls is not None:
            _qualified_name(errs, cls, path)
    elif cls is not None:
        errs.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))


LOAD_BALANCER_IP_MODES = ["Proxy", "VIP"]


def _load_balancer_status(errs: Errs, svc: JSON, status: Any) -> None:
    """ValidateLoadBalancerStatus (LoadBalancerIPMode GA, AllowServiceLBStatusOnNonLB
    off): ingress points only on a LoadBalancer; each IP valid, its ipMode given and
    supported; a hostname a DNS name, not an IP."""
    lb = as_dict(errs, status, "status.loadBalancer")
    ingress = as_list(errs, lb.get("ingress"), "status.loadBalancer.ingress")
    if ingress and service_type(svc) != "LoadBalancer":
        errs.append(forbidden("status.loadBalancer.ingress",
                              "may only be used when `spec.type` is 'LoadBalancer'"))
        return
    for i, raw in enumerate(ingress):
        path = at_index("status.loadBalancer.ingress", i)
        ing = as_dict(errs, raw, path)
        ip = ing.get("ip") or ""
        if ip:
            _ip(errs, ip, child(path, "ip"))
        mode = ing.get("ipMode")
        if mode is None:
            if ip:
                errs.append(required(child(path, "ipMode"),
                                     "must be specified when `ip` is set"))
        elif not ip:
            errs.append(forbidden(child(path, "ipMode"),
                                  "may not be specified when `ip` is not set"))
        elif mode not in LOAD_BALANCER_IP_MODES:
            errs.append(not_supported(child(path, "ipMode"), mode, LOAD_BALANCER_IP_MODES))
        host = ing.get("hostname") or ""
        if host:
            for m in is_dns1123_subdomain(str(host)):
                errs.append(invalid(child(path, "hostname"), host, m))
            if parse_ip(host) is not None:
                errs.append(invalid(child(path, "hostname"), host,
                                    "must be a DNS name, not an IP address"))


def _traffic_policies(errs: Errs, svc: JSON, spec: JSON) -> None:
    """validateServiceExternalTrafficPolicy and validateServiceInternalTrafficFieldsValue."""
    etp = spec.get("externalTrafficPolicy")
    if not externally_accessible(svc):
        if etp not in (None, ""):
            errs.append(invalid("spec.externalTrafficPolicy", etp,
                                "may only be set for externally-accessible services"))
    elif etp in (None, ""):
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES))
    hc = spec.get("healthCheckNodePort")
    if not needs_health_check(svc) and hc not in (None, 0):
        errs.append(invalid("spec.healthCheckNodePort", hc, "may only be set when `type` is "
                            "'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        if service_type(svc) in ("ClusterIP", "NodePort", "LoadBalancer"):
            errs.append(required("spec.internalTrafficPolicy"))
    elif itp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES))


def validate_service_update(old: JSON, new: JSON) -> Errs:
    """ValidateServiceUpdate's own part (validateUpgradeDowngradeClusterIPs): the
    clusterIPs may not change, except to, from or on ExternalName."""
    errs: Errs = []
    _load_balancer_class_update(errs, old, new)
    if needs_health_check(old) and needs_health_check(new) and \
            dig(old, "spec", "healthCheckNodePort") != dig(new, "spec", "healthCheckNodePort"):
        # validateServiceExternalTrafficFieldsUpdate
        errs.append(forbidden("spec.healthCheckNodePort", _IMMUTABLE))
    if service_type(new) == "ExternalName" or service_type(old) == "ExternalName":
        return errs
    if is_headless(old) and is_headless(new):
        return errs
    o, n = cluster_ips(old), cluster_ips(new)
    if len(o) == len(n):
        for i, ip in enumerate(o):
            if ip != n[i]:
                errs.append(invalid(at_index("spec.clusterIPs", i), n, "may not change once set"))
    elif len(o) > len(n):
        if not n:
            errs.append(invalid("spec.clusterIPs[0]", n, "primary clusterIP can not be unset"))
        elif o and n[0] != o[0]:
            errs.append(invalid("spec.clusterIPs[0]", n, "may not change once set"))
    elif o and n[0] != o[0]:
        errs.append(invalid("spec.clusterIPs[0]", n, "may not change once set"))
    return errs


# ---- Endpoints ---------------------------------------------------------------------------


def _endpoint_address(errs: Errs, value: Any, path: str) -> None:
    """validateEndpointAddress."""
    addr = as_dict(errs, value, path)
    ip = addr.get("ip")
    if _ip(errs, ip, child(path, "ip")) is not None:
        errs += non_special_ip(str(ip), child(path, "ip"))
    hostname = as_str(errs, addr.get("hostname"), child(path, "hostname"))
    if hostname:
        _dns1123_label(errs, hostname, child(path, "hostname"))
    node = addr.get("nodeName")
    if node is not None:
        for m in is_dns1123_subdomain(as_str(errs, node, child(path, "nodeName"))):
            errs.append(invalid(child(path, "nodeName"), node, m))


def endpoint_port(errs: Errs, value: Any, require_name: bool, path: str) -> None:
    """validateEndpointPort."""
    port = as_dict(errs, value, path)
    name = as_str(errs, port.get("name"), child(path, "name"))
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        _dns1123_label(errs, name, child(path, "name"))
    _port_num(errs, port.get("port"), child(path, "port"))
    _protocol(errs, port.get("protocol"), child(path, "protocol"))
    if port.get("appProtocol") is not None:
        _qualified_name(errs, port.get("appProtocol"), child(path, "appProtocol"))


def validate_endpoints(obj: JSON) -> Errs:
    """ValidateEndpoints: validateEndpointSubsets."""
    errs: Errs = []
    for i, raw in enumerate(as_list(errs, obj.get("subsets"), "subsets")):
        path = at_index("subsets", i)
        ss = as_dict(errs, raw, path)
        ready = as_list(errs, ss.get("addresses"), child(path, "addresses"))
        not_ready = as_list(errs, ss.get("notReadyAddresses"), child(path, "notReadyAddresses"))
        if not ready and not not_ready:
            errs.append(FieldError(path, "FieldValueRequired",
                                   "must specify `addresses` or `notReadyAddresses`"))
        for j, a in enumerate(ready):
            _endpoint_address(errs, a, at_index(child(path, "addresses"), j))
        for j, a in enumerate(not_ready):
            _endpoint_address(errs, a, at_index(child(path, "notReadyAddresses"), j))
        ports = as_list(errs, ss.get("ports"), child(path, "ports"))
        for j, p in enumerate(ports):
            endpoint_port(errs, p, len(ports) > 1, at_index(child(path, "ports"), j))
    return errs
