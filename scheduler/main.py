"""``minik8s-scheduler``: the scheduler service's command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sys
from collections.abc import Sequence

from api.models import Node, Pod
from api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.events import EventRecorder
from client.informer import SharedInformerFactory
from client.leaderelection import LeaderElector
from client.rest import AsyncClient
from client.service import stop_on_signals
from client.tasks import cancel_and_wait
from scheduler.config import ConfigError, SchedulerConfig, load_config, parse_weight_flag
from scheduler.plugins import SCORES, default_framework
from scheduler.plugins.volume_binding import VolumeBinding, VolumeState
from scheduler.service import Scheduler

log = logging.getLogger("scheduler")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "minik8s-scheduler"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-scheduler",
        description="Assign pending pods to nodes (filter, score, bind).")
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--config", help="KubeSchedulerConfiguration YAML file")
    p.add_argument("--leader-elect", action="store_true",
                   help=f"run for leadership on the Lease {LEASE_NAMESPACE}/{LEASE_NAME}; "
                        "only the leader schedules")
    p.add_argument("--lease-namespace", default=LEASE_NAMESPACE)
    p.add_argument("--lease-name", default=LEASE_NAME)
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0, metavar="S")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, metavar="S")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0, metavar="S")
    p.add_argument("--identity", default=None,
                   help="leader election identity (default: hostname_pid)")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=None, metavar="N",
                   help="stop filtering after N%% of the nodes fit (0: adaptive, as k8s)")
    p.add_argument("--score-weight", action="append", default=[], metavar="NAME=WEIGHT",
                   help=f"weight of a score plugin (0 disables); plugins: {', '.join(SCORES)}")
    p.add_argument("--scheduler-name", default=None,
                   help="schedule pods whose spec.schedulerName is this (default-scheduler)")
    p.add_argument("--bind-concurrency", type=int, default=64,
                   help="bindings in flight at once")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def resolve_config(args: argparse.Namespace) -> SchedulerConfig:
    cfg = load_config(args.config) if args.config else SchedulerConfig()
    if args.percentage_of_nodes_to_score is not None:
        p = args.percentage_of_nodes_to_score
        if not 0 <= p <= 100:
            raise ConfigError(f"--percentage-of-nodes-to-score must be in 0..100, got {p}")
        cfg.percentage_of_nodes_to_score = p
    for flag in args.score_weight:
        name, weight = parse_weight_flag(flag)
        cfg.weights[name] = weight
    if args.scheduler_name:
        cfg.scheduler_name = args.scheduler_name
    return cfg


async def serve(args: argparse.Namespace, cfg: SchedulerConfig, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; then stop deciding and clean up (lease released)."""
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-scheduler"))
    identity = args.identity or f"{socket.gethostname()}_{os.getpid()}"
    recorder = EventRecorder(client, component="default-scheduler", host=socket.gethostname())
    framework = default_framework(cfg.weights, cfg.percentage_of_nodes_to_score)
    sched = Scheduler(client, framework, scheduler_name=cfg.scheduler_name,
                      events=recorder.event, bind_concurrency=args.bind_concurrency)
    factory = SharedInformerFactory(client)
    nodes = factory.informer(Node)
    pods = factory.informer(Pod)
    nodes.add_handler(sched.on_node_add, sched.on_node_update, sched.on_node_delete)
    pods.add_handler(sched.on_pod_add, sched.on_pod_update, sched.on_pod_delete)
    claims = factory.informer(PersistentVolumeClaim)
    volumes = factory.informer(PersistentVolume)
    classes = factory.informer(StorageClass)
    for f in framework.filters:
        if isinstance(f, VolumeBinding):
            f.state = VolumeState(claims.store.get, volumes.store.get, classes.store.get,
                                  volumes.store.list)
    for inf in (claims, volumes, classes):
        # a claim, volume or class that appears or changes may let parked pods fit
        inf.add_handler(lambda _o: sched.queue.move_all("StorageChange"),
                        lambda _o, _n: sched.queue.move_all("StorageChange"), None)

    async def work() -> None:
        recorder.start()
        await factory.start_all()
        # Deciding before both caches are full could overcommit a node whose pods we
        # have not seen yet.
        while not await factory.wait_for_sync(timeout=30):
            log.warning("waiting for the node and pod caches to sync with %s", client.server)
        log.info("caches synced: %d nodes, %d pods; %d pods pending",
                 sched.cache.node_count(), sched.cache.pod_count(), len(sched.queue))
        # The synced caches are long-lived: keep the cyclic GC from walking them again
        # and again (each full collection over 10k pods costs milliseconds of a cycle).
        gc.collect()
        gc.freeze()
        if args.leader_elect:
            # The elector cancels sched.run the moment the lease is not renewed in time
            # (renew deadline < lease duration, so before anyone else can take over),
            # then campaigns again; the caches stay warm meanwhile.
            elector = LeaderElector(client, namespace=args.lease_namespace,
                                    name=args.lease_name, identity=identity,
                                    lease_duration=args.leader_elect_lease_duration,
                                    renew_deadline=args.leader_elect_renew_deadline,
                                    retry_period=args.leader_elect_retry_period,
                                    on_started_leading=sched.run)
            log.info("campaigning for the lease %s/%s as %s", args.lease_namespace,
                     args.lease_name, identity)
            await elector.run()
        else:
            await sched.run()

    # Cleanup runs in this task, which is never cancelled, so it can await freely.
    task = asyncio.create_task(work(), name="scheduler")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait([stopper, task])  # the elector releases the lease as it unwinds
        st = sched.stats
        log.info("shutting down: %d attempts, %d bound, %d unschedulable, %d binding errors, "
                 "%.3f ms CPU per cycle; queue %s", st.attempts, st.bound, st.unschedulable,
                 st.bind_errors, 1000 * st.cycle_seconds / max(st.attempts, 1),
                 sched.queue.counts())
        await factory.stop_all()
        await sched.drain(timeout=2)
        await recorder.close()
        await client.close()
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one line per request would cost more than the scheduling itself
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        cfg = resolve_config(args)
        default_framework(cfg.weights, cfg.percentage_of_nodes_to_score)
        if args.leader_elect and not (args.leader_elect_lease_duration
                                      > args.leader_elect_renew_deadline
                                      > args.leader_elect_retry_period > 0):
            raise ConfigError("leader election needs lease duration > renew deadline > "
                              "retry period > 0")
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)

    # Fewer, larger young-generation collections: the service allocates many small
    # short-lived objects per pod (JSON, models) and almost no reference cycles.
    gc.set_threshold(50_000, 20, 50)

    async def runner() -> None:
        stop = stop_on_signals()
        await serve(args, cfg, stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
