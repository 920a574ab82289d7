"""``minik8s-ingress``: the ingress controller (ingress/controller.py) as a command.

It serves the Ingresses of ``--ingress-class`` (and of every IngressClass whose
``spec.controller`` is ``--controller-class``) with the Debian nginx found as
``--nginx``, listening on ``--http-port``/``--https-port`` of ``--bind-address``, and
writes ``--publish-address`` into their status. ``/healthz`` on ``--health-port`` answers
200 once the caches have synced and nginx runs the first configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.httpserve import Reply, serve_http, text
from client.rest import AsyncClient
from client.service import run_until_signalled, setup_logging
from ingress.controller import DEFAULT_CONTROLLER, IngressController
from ingress.render import Settings

log = logging.getLogger("ingress")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minik8s-ingress", description=__doc__.split("\n\n")[0])
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--ingress-class", default="nginx",
                   help="the IngressClass name served (ingress-nginx's --ingress-class)")
    p.add_argument("--controller-class", default=DEFAULT_CONTROLLER,
                   help="IngressClasses with this spec.controller are served too")
    p.add_argument("--nginx", default="nginx", help="the nginx binary")
    p.add_argument("--run-dir", default="/tmp/minik8s-ingress",
                   help="nginx.conf, certificates, pid and temp files")
    p.add_argument("--bind-address", default="", help="address nginx listens on (all)")
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--https-port", type=int, default=443)
    p.add_argument("--publish-address", default="127.0.0.1",
                   help="the address written to status.loadBalancer.ingress")
    p.add_argument("--worker-processes", default="auto")
    p.add_argument("--health-port", type=int, default=10254, help="/healthz (-1: off)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    if shutil.which(args.nginx) is None:
        raise SystemExit(f"minik8s-ingress: {args.nginx} not found (--nginx names the binary)")
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig, "minik8s-ingress"))
    ctl = IngressController(
        client, Path(args.run_dir),
        Settings(run_dir=args.run_dir, http_port=args.http_port, https_port=args.https_port,
                 address=args.bind_address, worker_processes=args.worker_processes),
        ingress_class=args.ingress_class, controller_name=args.controller_class,
        publish_address=args.publish_address, nginx_binary=args.nginx)
    await ctl.start()
    srv = None
    if args.health_port >= 0:
        def healthz() -> Reply:
            return text(200, "ok") if ctl.synced() else text(503, "not synced")
        srv = await serve_http("0.0.0.0", args.health_port, {"/healthz": healthz})
    log.info("serving ingress class %s on :%d/:%d; API %s", args.ingress_class,
             args.http_port, args.https_port, client.server)
    try:
        await stop.wait()
    finally:
        if srv is not None:
            srv.close()
        await ctl.stop()
        await client.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    setup_logging(args.verbose)
    run_until_signalled(lambda stop: serve(args, stop))
