"""``minik8s-controller-manager``: the controller-manager's command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sys
from collections.abc import Sequence

from api.timeutil import duration_flag
from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.events import EventRecorder
from client.informer import SharedInformerFactory
from client.leaderelection import LeaderElector
from client.rest import AsyncClient
from client.service import run_and_exit, setup_logging, stop_on_signals
from client.tasks import cancel_and_wait
from controllers import metrics
from controllers.context import DEFAULT_LOAD_BALANCER_IP_RANGE, ControllerContext, Options
from controllers.manager import (
    REGISTRY,
    ControllerManager,
    ControllersFlagError,
    enabled_controllers,
)
from controllers.nodeipam import DEFAULT_CLUSTER_CIDR
from controllers.nodeipam_util import CIDRSet, CIDRSetError, parse_cidr
from controllers.servicelb import RangeError, parse_range

log = logging.getLogger("controller-manager")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "minik8s-controller-manager"
COMPONENT = "controller-manager"

def load_balancer_range(text: str) -> str:
    try:
        return str(parse_range(text))
    except RangeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cidr_flag(text: str) -> str:
    if not text:
        return ""
    try:
        return str(parse_cidr(text))
    except CIDRSetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-controller-manager",
        description="Run the Deployment, ReplicaSet, garbage-collector, namespace, "
                    "node-lifecycle, Endpoints and EndpointSlice controllers.")
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--controllers", default="*",
                   help="'*' for all, 'name' to enable, '-name' to disable, comma separated; "
                        f"known: {', '.join(REGISTRY)}")
    p.add_argument("--leader-elect", action="store_true",
                   help=f"run for leadership on the Lease {LEASE_NAMESPACE}/{LEASE_NAME}")
    p.add_argument("--lease-namespace", default=LEASE_NAMESPACE)
    p.add_argument("--lease-name", default=LEASE_NAME)
    p.add_argument("--leader-elect-lease-duration", type=duration_flag, default=15.0, metavar="D")
    p.add_argument("--leader-elect-renew-deadline", type=duration_flag, default=10.0, metavar="D")
    p.add_argument("--leader-elect-retry-period", type=duration_flag, default=2.0, metavar="D")
    p.add_argument("--identity", default=None, help="leader identity (default hostname_pid)")
    p.add_argument("--node-monitor-grace-period", type=duration_flag, default=40.0, metavar="D",
                   help="a node whose lease is not renewed for this long is unreachable")
    p.add_argument("--node-monitor-period", type=duration_flag, default=5.0, metavar="D")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   metavar="N", help="eviction delay from an unreachable node for pods "
                                     "without a toleration")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   metavar="N", help="the same for a node whose kubelet reports not ready")
    # Workers are coroutines, not threads: more of them than Kubernetes' 5 cost little
    # and keep more requests in flight when many objects change at once.
    p.add_argument("--concurrent-deployment-syncs", type=int, default=10, metavar="N")
    p.add_argument("--concurrent-replicaset-syncs", type=int, default=16, metavar="N")
    p.add_argument("--concurrent-rc-syncs", type=int, default=5, metavar="N",
                   help="ReplicationController controller workers")
    p.add_argument("--concurrent-gc-syncs", type=int, default=10, metavar="N")
    p.add_argument("--concurrent-endpoint-syncs", type=int, default=5, metavar="N")
    p.add_argument("--concurrent-service-endpoint-syncs", type=int, default=5, metavar="N",
                   help="EndpointSlice controller workers")
    p.add_argument("--endpoint-updates-batch-period", type=duration_flag, default=0.0, metavar="D",
                   help="wait this long after a pod change before writing its Services' "
                        "Endpoints and EndpointSlices, so that changes in a burst make one "
                        "write (0: at once)")
    p.add_argument("--max-endpoints-per-slice", type=int, default=100, metavar="N")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=duration_flag, default=15.0,
                   metavar="D", help="how often each HorizontalPodAutoscaler is reconciled")
    p.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=duration_flag,
                   default=300.0, metavar="D",
                   help="the highest recommendation of this window wins on a scale-down")
    p.add_argument("--concurrent-job-syncs", type=int, default=16, metavar="N")
    p.add_argument("--concurrent-cron-job-syncs", type=int, default=50, metavar="N",
                   help="CronJob workers (Kubernetes' 5 are threads; these coroutines wait "
                        "on the API server, and 500 CronJobs due at one minute start within "
                        "~1.4 s with 50: bench/cronjobs.py)")
    p.add_argument("--concurrent-ttl-after-finished-syncs", type=int, default=5, metavar="N")
    p.add_argument("--job-pod-failure-backoff", type=duration_flag, default=10.0, metavar="D",
                   help="the Job controller's back-off after a first failed pod (doubles per "
                        "failure, capped at 6m)")
    p.add_argument("--job-sync-batch-period", type=duration_flag, default=1.0, metavar="D",
                   help="pod events of a Job wait this long so that a burst makes one sync "
                        "(Kubernetes' syncJobBatchPeriod)")
    p.add_argument("--root-ca-file", default="", metavar="FILE",
                   help="the cluster CA (PEM), published as ca.crt in each namespace's "
                        "kube-root-ca.crt ConfigMap and in legacy token Secrets")
    p.add_argument("--service-account-private-key-file", default="", metavar="FILE",
                   help="RSA private key (PEM) signing legacy ServiceAccount token Secrets "
                        "(the serviceaccount-token controller is off without it)")
    p.add_argument("--load-balancer-ip-range", type=load_balancer_range,
                   default=DEFAULT_LOAD_BALANCER_IP_RANGE, metavar="CIDR",
                   help="the loopback addresses the servicelb controller gives LoadBalancer "
                        "Services (inside 127.0.0.0/8; 127.0.0.1 is never handed out)")
    p.add_argument("--allocate-node-cidrs", action="store_true",
                   help="give each Node a spec.podCIDR out of --cluster-cidr (the nodeipam "
                        "controller; off: it does nothing)")
    p.add_argument("--cluster-cidr", type=cidr_flag, default="", metavar="CIDR",
                   help="the pods' range the node IPAM cuts (default with "
                        f"--allocate-node-cidrs: {DEFAULT_CLUSTER_CIDR})")
    p.add_argument("--node-cidr-mask-size", type=int, default=0, metavar="N",
                   help="the size of each Node's pod CIDR (0: 24 for IPv4, 64 for IPv6)")
    p.add_argument("--service-cluster-ip-range", type=cidr_flag, default="", metavar="CIDR",
                   help="the Services' range, kept out of the Nodes' pod CIDRs when inside "
                        "--cluster-cidr")
    p.add_argument("--cluster-signing-cert-file", default="", metavar="FILE",
                   help="the CA certificate (PEM) the csrsigning controller issues "
                        "kubelet client and serving and API server client certificates with")
    p.add_argument("--cluster-signing-key-file", default="", metavar="FILE",
                   help="its private key (PEM); csrsigning is off without both")
    p.add_argument("--cluster-signing-duration", type=duration_flag, default=365 * 24 * 3600.0,
                   metavar="D", help="the longest lifetime of an issued certificate (a CSR's "
                                     "expirationSeconds may ask for less)")
    p.add_argument("--metrics-port", type=int, default=0, metavar="PORT",
                   help="serve /healthz and Prometheus /metrics here (0: off)")
    p.add_argument("--metrics-address", default="0.0.0.0", metavar="ADDR")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def serve(args: argparse.Namespace, names: list[str]) -> int:
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-controller-manager"))
    recorder = EventRecorder(client, component=COMPONENT, host=socket.gethostname())
    options = Options(
        node_monitor_grace_period=args.node_monitor_grace_period,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        node_monitor_period=args.node_monitor_period,
        endpoint_updates_batch_period=args.endpoint_updates_batch_period,
        max_endpoints_per_slice=args.max_endpoints_per_slice,
        job_pod_failure_backoff=args.job_pod_failure_backoff,
        job_sync_batch_period=args.job_sync_batch_period,
        root_ca_file=args.root_ca_file,
        service_account_private_key_file=args.service_account_private_key_file,
        load_balancer_ip_range=args.load_balancer_ip_range,
        cluster_signing_cert_file=args.cluster_signing_cert_file,
        cluster_signing_key_file=args.cluster_signing_key_file,
        cluster_signing_duration=args.cluster_signing_duration,
        allocate_node_cidrs=args.allocate_node_cidrs,
        cluster_cidr=args.cluster_cidr,
        node_cidr_mask_size=args.node_cidr_mask_size,
        service_cluster_ip_range=args.service_cluster_ip_range,
        horizontal_pod_autoscaler_sync_period=args.horizontal_pod_autoscaler_sync_period,
        horizontal_pod_autoscaler_downscale_stabilization=(
            args.horizontal_pod_autoscaler_downscale_stabilization),
        workers={"deployment": args.concurrent_deployment_syncs,
                 "replicaset": args.concurrent_replicaset_syncs,
                 "replicationcontroller": args.concurrent_rc_syncs,
                 "garbagecollector": args.concurrent_gc_syncs,
                 "endpoints": args.concurrent_endpoint_syncs,
                 "endpointslice": args.concurrent_service_endpoint_syncs,
                 "job": args.concurrent_job_syncs,
                 "cronjob": args.concurrent_cron_job_syncs,
                 "ttl-after-finished": args.concurrent_ttl_after_finished_syncs})
    ctx = ControllerContext(client, SharedInformerFactory(client), recorder, options)
    manager = ControllerManager(ctx, names)
    stop = stop_on_signals()
    lost = False
    leading = not args.leader_elect
    server = None
    try:
        if args.metrics_port:
            server = await metrics.serve(args.metrics_address, args.metrics_port,
                                         lambda: manager.controllers, lambda: leading)
        recorder.start()
        await manager.start_informers()
        # The synced caches are long-lived: keep the cyclic GC from walking them again and
        # again (as the scheduler does).
        gc.collect()
        gc.freeze()
        if args.leader_elect:
            identity = args.identity or f"{socket.gethostname()}_{os.getpid()}"

            def stopped() -> None:
                nonlocal lost, leading
                # a lease handed back because we were told to stop is no loss
                lost, leading = not stop.is_set(), False
                stop.set()

            async def lead() -> None:
                nonlocal leading
                leading = True
                await manager.run_controllers(stop)

            elector = LeaderElector(
                client, namespace=args.lease_namespace, name=args.lease_name,
                identity=identity, lease_duration=args.leader_elect_lease_duration,
                renew_deadline=args.leader_elect_renew_deadline,
                retry_period=args.leader_elect_retry_period,
                on_started_leading=lead,
                on_stopped_leading=stopped)
            log.info("campaigning for the lease %s/%s as %s", args.lease_namespace,
                     args.lease_name, identity)
            task = asyncio.create_task(elector.run())
            await stop.wait()
            await cancel_and_wait([task])
        else:
            await manager.run_controllers(stop)
    finally:
        if server is not None:
            server.close()
        await manager.stop()
        await recorder.close()
        await client.close()
    if lost:
        # Like kube-controller-manager: a leader that lost its lease exits, and its
        # supervisor restarts it as a fresh candidate with no half-done state.
        log.error("leader election lost; exiting")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        names = enabled_controllers(args.controllers)
    except ControllersFlagError as exc:
        print(f"minik8s-controller-manager: --controllers: {exc}", file=sys.stderr)
        sys.exit(1)
    if args.allocate_node_cidrs:
        try:  # as kube-controller-manager, a cluster CIDR the mask cannot cut stops it here
            CIDRSet(args.cluster_cidr or DEFAULT_CLUSTER_CIDR, args.node_cidr_mask_size or (
                24 if ":" not in (args.cluster_cidr or DEFAULT_CLUSTER_CIDR) else 64))
        except CIDRSetError as exc:
            print(f"minik8s-controller-manager: --cluster-cidr/--node-cidr-mask-size: {exc}",
                  file=sys.stderr)
            sys.exit(1)
    # Fewer, larger young-generation collections: controllers allocate many short-lived
    # objects per event and reconcile (JSON, models), almost no reference cycles.
    gc.set_threshold(50_000, 20, 50)
    run_and_exit(serve(args, names))


if __name__ == "__main__":
    main()
