"""``minik8s-apiserver`` / ``python -m apiserver``."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

import uvicorn

from apiserver.config import Config


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="minik8s-apiserver",
                                description="The minik8s API server (Kubernetes REST over etcd)")
    p.add_argument("--etcd-servers", default="http://127.0.0.1:2379",
                   help="comma-separated etcd client URLs")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between etcd compactions (0 disables); about this much "
                        "history is kept")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error", "critical"])
    p.add_argument("--watch-cache-capacity", type=int, default=20_000,
                   help="recent events kept per resource type for resuming watches")
    p.add_argument("--watcher-queue", type=int, default=10_000)
    p.add_argument("--bookmark-interval", type=float, default=30.0)
    p.add_argument("--event-ttl", type=int, default=3600,
                   help="seconds until an Event is deleted (0 keeps them)")
    p.add_argument("--watch-linger", type=float, default=0.05,
                   help="seconds a watch stream waits to batch events under load")
    a = p.parse_args(argv)
    return Config(etcd_servers=a.etcd_servers, bind_address=a.bind_address, port=a.port,
                  compaction_interval=a.compaction_interval, log_level=a.log_level,
                  watch_cache_capacity=a.watch_cache_capacity, watcher_queue=a.watcher_queue,
                  bookmark_interval=a.bookmark_interval, watch_linger=a.watch_linger,
                  event_ttl=a.event_ttl)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    level = getattr(logging, config.log_level.upper())
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)
    from apiserver.app import create_app

    app = create_app(config)
    if os.environ.get("MINIK8S_APISERVER_GC", "tuned") == "tuned":
        # Requests allocate many short-lived dicts; collecting every 700 allocations
        # (the default) costs ~10% of a create. Objects alive at start are frozen out
        # of collection altogether.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
    uvicorn.run(app, host=config.bind_address, port=config.port, loop="uvloop",
                http="httptools", log_level=config.log_level, access_log=False,
                # No proxy sits in front of it; trusting X-Forwarded-* would only
                # add a middleware layer to every request.
                proxy_headers=False,
                server_header=False,  # as Kubernetes: no Server header to validate and send
                timeout_graceful_shutdown=2, lifespan="on")


if __name__ == "__main__":
    main()
