"""A pod's DNS: the resolv.conf its dnsPolicy gives and its hostname and domain.

Ported from Kubernetes' pkg/kubelet/network/dns/dns.go (``Configurer.GetPodDNS``,
``getPodDNSType``, ``generateSearchesForDNSClusterFirst``, ``appendDNSConfig``,
``mergeDNSOptions``, ``formDNSSearchFitsLimits``, ``parseResolvConf``) and
pkg/kubelet/kubelet_pods.go ``GeneratePodHostNameAndDomain``:

- ``ClusterFirst`` (the default) with a cluster DNS: nameservers = ``--cluster-dns``,
  search ``<ns>.svc.<domain> svc.<domain> <domain>`` then the host's search domains,
  ``options ndots:5``. Without ``--cluster-dns`` it falls back to ``Default``. The
  kubelet records a ``MissingClusterDNS`` event on each such pod; minik8s logs it once
  per kubelet instead (hollow nodes run thousands of pods on kubelets without cluster
  DNS, where an event per pod would only be load).
- ``ClusterFirstWithHostNet``: the same for a hostNetwork pod (``ClusterFirst`` on the
  host network means ``Default``).
- ``Default``: the node's resolver configuration. Without a ``dnsConfig`` the runtime's
  own resolv.conf is kept: Docker builds it from the node's (its nameservers behind the
  embedded resolver of the pods' network, which also answers the compose aliases, its
  search and options), so a pod that asks for nothing gets exactly what it got before
  cluster DNS existed. With a ``dnsConfig``, the kubelet's ``--resolv-conf`` file
  (default /etc/resolv.conf, "" for none) merged with it is written instead.
- ``None``: only what ``dnsConfig`` gives.
- ``dnsConfig`` is merged into any policy: nameservers and searches appended (deduplicated),
  options merged by name (the pod's value wins). At most 3 nameservers and 32 search
  domains of 2048 characters are kept, the rest dropped with a ``DNSConfigForming``
  warning.

The result is a ``DNSConfig`` (the CRI's) in the sandbox config, or None for "the
runtime's default"; the runtime writes it (kubelet/runtime/docker.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.models import Pod
from kubelet.runtime.base import DNSConfig

MAX_DNS_NAMESERVERS = 3  # validation.MaxDNSNameservers
MAX_DNS_SEARCH_PATHS = 32  # validation.MaxDNSSearchPaths
MAX_DNS_SEARCH_LIST_CHARS = 2048  # validation.MaxDNSSearchListChars
DEFAULT_NDOTS = "ndots:5"


@dataclass(frozen=True)
class HostDNS:
    """The node's resolv.conf (``parseResolvConf``)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> HostDNS:
    """nameserver, search (the last line wins, as libc) and options lines; comments
    (``#`` or ``;``) dropped."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            # "domain" is an obsolete search list of one; the last one wins.
            searches = [s for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options = _merge_options(options, fields[1:])
    return HostDNS(tuple(servers), tuple(searches), tuple(options))


def read_host_dns(path: str) -> HostDNS | None:
    """The kubelet's ``--resolv-conf``; None when it is "" (no host configuration)."""
    if not path:
        return None
    try:
        with open(path) as f:
            return parse_resolv_conf(f.read())
    except OSError:
        return HostDNS()


def _merge_options(existing: list[str], new: list[str]) -> list[str]:
    """mergeDNSOptions: by option name (the part before ':'), a later one replacing."""
    out: dict[str, str] = {}
    for opt in [*existing, *new]:
        out[opt.split(":", 1)[0]] = opt
    return list(out.values())


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class ClusterDNSSettings:
    """The kubelet's DNS settings (KubeletConfiguration clusterDNS, clusterDomain,
    resolvConf)."""

    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    host: HostDNS | None = None  # the --resolv-conf file; None: the runtime's own


def pod_dns_type(pod: Pod, settings: ClusterDNSSettings) -> tuple[str, str | None]:
    """getPodDNSType: (the effective policy, an event message when falling back)."""
    policy = pod.spec.dns_policy or "ClusterFirst"
    host_net = bool(pod.spec.host_network)
    if policy == "None":
        return "None", None
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_net):
        if not settings.cluster_dns:
            return "Default", (
                "kubelet does not have ClusterDNS IP configured and cannot create Pod "
                f'using "{policy}" policy. Falling back to "Default" policy.')
        return "ClusterFirst", None
    # Default, and ClusterFirst on the host network
    return "Default", None


def cluster_searches(namespace: str, domain: str) -> list[str]:
    """generateSearchesForDNSClusterFirst's own part."""
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


MISSING_CLUSTER_DNS = "MissingClusterDNS"
DNS_CONFIG_FORMING = "DNSConfigForming"


def pod_dns(pod: Pod, settings: ClusterDNSSettings
            ) -> tuple[DNSConfig | None, list[tuple[str, str]]]:
    """GetPodDNS: the pod's DNS config (None: the runtime's default) and the warnings
    as (event reason, message): MissingClusterDNS, DNSConfigForming."""
    warnings: list[tuple[str, str]] = []
    kind, fallback = pod_dns_type(pod, settings)
    if fallback:
        warnings.append((MISSING_CLUSTER_DNS, fallback))
    host = settings.host
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if kind == "ClusterFirst":
        servers = list(settings.cluster_dns)
        searches = cluster_searches(pod.metadata.namespace or "default", settings.cluster_domain)
        searches += [s for s in (host.searches if host else ()) if s not in searches]
        options = [DEFAULT_NDOTS]
    elif kind == "Default" and host is not None:
        servers, searches, options = list(host.nameservers), list(host.searches), \
            list(host.options)
    cfg = pod.spec.dns_config
    if kind == "Default" and cfg is None:
        return None, warnings
    if cfg is not None:
        servers = _dedup([*servers, *(cfg.nameservers or [])])
        searches = _dedup([*searches, *(cfg.searches or [])])
        options = _merge_options(options, [
            f"{o.name}:{o.value}" if o.value is not None else (o.name or "")
            for o in cfg.options or [] if o.name])
    if len(servers) > MAX_DNS_NAMESERVERS:
        warnings.append((DNS_CONFIG_FORMING,
                         f"Nameserver limits were exceeded, some nameservers have been "
                         f"omitted, the applied nameserver line is: "
                         f"{' '.join(servers[:MAX_DNS_NAMESERVERS])}"))
        servers = servers[:MAX_DNS_NAMESERVERS]
    fitted = _fit_searches(searches)
    if fitted != searches:
        warnings.append((DNS_CONFIG_FORMING,
                         f"Search Line limits were exceeded, some search paths have been "
                         f"omitted, the applied search line is: {' '.join(fitted)}"))
    return DNSConfig(servers=servers, searches=fitted, options=options), warnings


def _fit_searches(searches: list[str]) -> list[str]:
    """formDNSSearchFitsLimits: at most 32 domains, 2048 characters with the spaces."""
    out = searches[:MAX_DNS_SEARCH_PATHS]
    while out and len(" ".join(out)) > MAX_DNS_SEARCH_LIST_CHARS:
        out = out[:-1]
    return out


def hostname_and_domain(pod: Pod, cluster_domain: str) -> tuple[str, str]:
    """GeneratePodHostNameAndDomain: spec.hostname or the pod's name (truncated to 63,
    without a trailing '-' or '.'), and ``<subdomain>.<ns>.svc.<domain>`` when
    spec.subdomain is set (else "")."""
    hostname = pod.spec.hostname or pod.metadata.name or "pod"
    if len(hostname) > 63:
        hostname = hostname[:63].rstrip("-.")
    domain = ""
    if pod.spec.subdomain:
        domain = f"{pod.spec.subdomain}.{pod.metadata.namespace or 'default'}.svc." \
                 f"{cluster_domain}"
    return hostname, domain
