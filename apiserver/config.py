"""The API server's settings, from the command line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Config:
    etcd_servers: str = "http://127.0.0.1:2379"
    bind_address: str = "127.0.0.1"
    port: int = 8080
    compaction_interval: float = 300.0  # seconds of history kept in etcd (about)
    log_level: str = "info"
    watch_cache_capacity: int = 20_000  # events per resource type kept for resuming watches
    watcher_queue: int = 10_000  # events a watcher may lag before it is closed
    bookmark_interval: float = 30.0  # seconds between BOOKMARKs on an idle watch
    event_ttl: int = 3600  # seconds an Event lives in etcd (Kubernetes' --event-ttl)
    watch_linger: float = 0.05  # the most a busy watch stream waits to batch events
    service_cluster_ip_range: str = "10.96.0.0/12"  # ClusterIPs; the first is `kubernetes`'s
    service_node_port_range: str = "30000-32767"  # NodePorts, both ends included
    advertise_address: str | None = None  # the `kubernetes` endpoints; None: the host's
    service_repair_interval: float = 180.0  # seconds between allocator repair passes
    endpoint_reconcile_interval: float = 10.0  # seconds between `kubernetes` reconciles
    # --authorization-mode, in order (apiserver.auth.authorizer.MODES)
    authorization_modes: list[str] = field(default_factory=lambda: ["AlwaysAllow"])
    anonymous_auth: bool = False  # unauthenticated requests: system:anonymous, else 401
