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
    # Events per resource type kept for resuming watches: the most the history grows to
    # (it starts at 100, doubles while full of events younger than the freshness window
    # and halves back when they age: apiserver/watchcache.py)
    watch_cache_capacity: int = 100 * 1024
    watch_cache_fresh_seconds: float = 75.0  # that window (Kubernetes' eventFreshDuration)
    watcher_queue: int = 10_000  # events a watcher may lag before it is closed
    bookmark_interval: float = 30.0  # seconds between BOOKMARKs on an idle watch
    event_ttl: int = 3600  # seconds an Event lives in etcd (Kubernetes' --event-ttl)
    watch_linger: float = 0.05  # the most a busy watch stream waits to batch events
    service_cluster_ip_range: str = "10.96.0.0/12"  # ClusterIPs; the first is `kubernetes`'s
    service_node_port_range: str = "30000-32767"  # NodePorts, both ends included
    advertise_address: str | None = None  # the `kubernetes` endpoints; None: the host's
    service_repair_interval: float = 180.0  # seconds between allocator repair passes
    endpoint_reconcile_interval: float = 10.0  # seconds between `kubernetes` reconciles
    # "lease": every live server's address in the `kubernetes` endpoints (a TTL'd lease
    # per server in etcd); "none": this server's own only
    endpoint_reconciler_type: str = "lease"
    endpoint_reconciler_lease_ttl: int = 15  # seconds (Kubernetes' fixed 15 s)
    # Graceful termination (apiserver/serving.py): seconds still served after SIGTERM
    # with /readyz failing, then the most in-flight requests get once listeners close.
    shutdown_delay_duration: float = 0.0
    shutdown_timeout: float = 60.0
    # --authorization-mode, in order (apiserver.auth.authorizer.MODES)
    authorization_modes: list[str] = field(default_factory=lambda: ["AlwaysAllow"])
    anonymous_auth: bool = False  # unauthenticated requests: system:anonymous, else 401
    # ServiceAccount tokens (apiserver/auth/serviceaccount.py): --service-account-issuer
    # (the first signs), --service-account-key-file (verify), --service-account-signing-
    # key-file (TokenRequest), --api-audiences (default: the issuer), --service-account-
    # max-token-expiration (0: none); the minimum and the leeway are lowered only by tests
    service_account_issuers: list[str] = field(
        default_factory=lambda: ["https://kubernetes.default.svc.cluster.local"])
    service_account_key_files: list[str] = field(default_factory=list)
    service_account_signing_key_file: str | None = None
    api_audiences: list[str] = field(default_factory=list)
    service_account_max_token_expiration: int = 0
    service_account_min_token_expiration: int = 600
    service_account_token_leeway: int = 60
    # How the API server reaches kubelets (apiserver/kubelets.py): kube-apiserver's
    # --kubelet-preferred-address-types, --kubelet-client-certificate/-key,
    # --kubelet-certificate-authority; HTTPS with a client certificate or kubelet_https.
    kubelet_preferred_address_types: tuple[str, ...] = (
        "Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
    kubelet_https: bool = False
    kubelet_client_certificate: str | None = None
    kubelet_client_key: str | None = None
    kubelet_certificate_authority: str | None = None
    # --enable-admission-plugins / --disable-admission-plugins: added to / taken from
    # the default-on plugins (apiserver.admission_plugins), run in Kubernetes' order
    enable_admission_plugins: list[str] = field(default_factory=list)
    disable_admission_plugins: list[str] = field(default_factory=list)
    # DefaultTolerationSeconds: the tolerationSeconds of the not-ready/unreachable
    # NoExecute tolerations it adds to pods without them
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    # --admission-control-config-file: an AdmissionConfiguration (plugin name -> its
    # configuration; apiserver.admission_plugins.config)
    admission_control_config_file: str | None = None
    # --encryption-provider-config: an EncryptionConfiguration (apiserver.storage.encryption)
    encryption_provider_config: str | None = None
    # Secure serving (kube-apiserver's flags): HTTPS on secure_port when tls_cert_file is
    # set; client certificates verified against client_ca_file when presented.
    secure_port: int = 6443
    insecure_bind_address: str | None = None  # the plain port's address; None: bind_address
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None
    client_ca_file: str | None = None
    tls_min_version: str = "VersionTLS12"  # or VersionTLS13
    healthz_port: int = 0  # plain HTTP on 127.0.0.1 for /livez /readyz /healthz only; 0: off
    token_auth_file: str | None = None  # static tokens: CSV token,user,uid,"group1,group2"
    enable_bootstrap_token_auth: bool = False  # kube-system bootstrap-token-<id> Secrets
    audit_log_path: str | None = None  # JSON lines of audit.k8s.io/v1 Events ("-": stdout)
    audit_policy_file: str | None = None  # audit.k8s.io/v1 Policy: what is audited, how much

    @property
    def serves_tls(self) -> bool:
        return bool(self.tls_cert_file) and self.secure_port != 0  # 0: no HTTPS at all

    @property
    def api_port(self) -> int:
        """The port clients (and the ``kubernetes`` Service) reach the API on."""
        return self.secure_port if self.serves_tls else self.port
