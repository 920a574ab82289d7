"""``minik8s-dashboard``: serve the web UI on a loopback address.

Users sign in with a bearer token that the API server accepts (their own: the dashboard
never has more rights than the user); with ``--kubeconfig`` it runs in single-user mode and
acts with that kubeconfig's credentials without a sign-in.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from client.config import ClientConfig, KubeconfigError, kubeconfig_config, load_config
from client.service import run_until_signalled, setup_logging
from dashboard.app import make_app
from dashboard.sessions import Sessions

log = logging.getLogger("dashboard")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="minik8s-dashboard", description=__doc__)
    p.add_argument("--server", help="the API server (default: $MINIK8S_SERVER or "
                                    "~/.minik8s/config)")
    p.add_argument("--certificate-authority", help="the CA bundle that signed the API "
                                                   "server's certificate")
    p.add_argument("--kubeconfig", help="single-user mode: act with this kubeconfig's "
                                        "credentials, no sign-in")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def base_config(args: argparse.Namespace) -> ClientConfig:
    if args.kubeconfig:
        return kubeconfig_config(args.kubeconfig, server=args.server)
    cfg = load_config(args.server)
    # a user's token replaces any credential of the dashboard's own environment
    return ClientConfig(server=cfg.server, ca_file=args.certificate_authority or cfg.ca_file,
                        ca_data=None if args.certificate_authority else cfg.ca_data,
                        insecure=cfg.insecure)


async def serve(args: argparse.Namespace, cfg: ClientConfig, stop: asyncio.Event) -> None:
    app = make_app(Sessions(cfg, single=bool(args.kubeconfig)))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, args.bind_address, args.port)
    await site.start()
    log.info("dashboard on http://%s:%d for %s (%s)", args.bind_address, args.port,
             cfg.server, "single-user" if args.kubeconfig else "sign-in with a token")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        cfg = base_config(args)
        cfg.ssl_context()  # an unreadable CA or client certificate fails here, not at sign-in
    except (KubeconfigError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    run_until_signalled(lambda stop: serve(args, cfg, stop))
