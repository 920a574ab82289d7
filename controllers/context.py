"""What every controller of the manager shares: the client, one informer factory, the
event recorder, and the command-line options."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from api.models import TypedObject
from client import AsyncClient, Conflict, Forbidden
from client.controller import Result
from client.informer import SharedInformerFactory

log = logging.getLogger(__name__)


class Recorder(Protocol):
    def event(self, obj: TypedObject, type_: str, reason: str, message: str) -> None: ...


DEFAULT_LOAD_BALANCER_IP_RANGE = "127.0.240.0/20"


@dataclass
class Options:
    node_monitor_grace_period: float = 40.0
    default_unreachable_toleration_seconds: int = 300
    default_not_ready_toleration_seconds: int = 300
    # how often a node's health is looked at even when nothing changed
    node_monitor_period: float = 5.0
    # kube-controller-manager's --endpoint-updates-batch-period (0: write at once) and
    # --max-endpoints-per-slice
    endpoint_updates_batch_period: float = 0.0
    max_endpoints_per_slice: int = 100
    # kube-controller-manager's --horizontal-pod-autoscaler-sync-period and
    # --horizontal-pod-autoscaler-downscale-stabilization
    horizontal_pod_autoscaler_sync_period: float = 15.0
    horizontal_pod_autoscaler_downscale_stabilization: float = 300.0
    # the Job controller's first back-off after a failed pod (doubling, capped at six
    # minutes); Kubernetes' DefaultJobPodFailureBackOff, a flag here so tests run fast
    job_pod_failure_backoff: float = 10.0
    # syncJobBatchPeriod: pod events and status-only updates of a Job wait this long, so
    # that a burst of them makes one sync
    job_sync_batch_period: float = 1.0
    # --root-ca-file (the kube-root-ca.crt ConfigMaps, ca.crt of token Secrets) and
    # --service-account-private-key-file (signs legacy token Secrets); "" leaves the
    # controllers that need them off
    root_ca_file: str = ""
    service_account_private_key_file: str = ""
    # --load-balancer-ip-range: the loopback addresses the servicelb controller gives
    # LoadBalancer Services (inside 127.0.0.0/8; 127.0.0.1 is never handed out)
    load_balancer_ip_range: str = DEFAULT_LOAD_BALANCER_IP_RANGE
    # the node IPAM: --allocate-node-cidrs, --cluster-cidr ("": 10.244.0.0/16 when
    # allocating), --node-cidr-mask-size (0: 24 for IPv4, 64 for IPv6) and the Service
    # range kept out of the cluster CIDR (--service-cluster-ip-range)
    allocate_node_cidrs: bool = False
    cluster_cidr: str = ""
    node_cidr_mask_size: int = 0
    service_cluster_ip_range: str = ""
    # --cluster-signing-cert-file / --cluster-signing-key-file: the CA the csrsigning
    # controller issues certificates with ("": off); --cluster-signing-duration: the
    # longest lifetime it gives (a CSR's expirationSeconds may ask for less)
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""
    cluster_signing_duration: float = 365 * 24 * 3600.0
    workers: dict[str, int] = field(default_factory=dict)


@dataclass
class ControllerContext:
    client: AsyncClient
    factory: SharedInformerFactory
    recorder: Recorder
    options: Options = field(default_factory=Options)


def retry_conflicts(fn: Callable[[str], Awaitable[Result | None]]
                    ) -> Callable[[str], Awaitable[Result | None]]:
    """A 409 means our cache was behind a write (often our own): not an error worth a
    traceback, just a rate-limited retry once the informer has caught up. A create
    refused because the namespace is terminating needs no retry at all."""
    @functools.wraps(fn)
    async def wrapper(key: str) -> Result | None:
        try:
            return await fn(key)
        except Conflict as exc:
            log.debug("%s: conflict on %s, retrying: %s", fn.__qualname__, key, exc.message)
            return Result(requeue=True)
        except Forbidden as exc:
            if namespace_terminating(exc):
                return None  # the namespace controller is deleting this object anyway
            raise
    return wrapper


def namespace_terminating(exc: Exception) -> bool:
    """Creates into a namespace being deleted fail; that is expected, not an error."""
    if not isinstance(exc, Forbidden):
        return False
    return any(r == "NamespaceTerminating" for r, _, _ in exc.causes) or \
        "terminat" in exc.message.lower()


def raise_unless_terminating(errors: list[BaseException]) -> None:
    """Raise the first of ``errors`` that is not a create refused because the namespace is
    terminating (those are expected, see ``namespace_terminating``)."""
    for err in errors:
        if isinstance(err, Exception) and namespace_terminating(err):
            continue
        raise err
