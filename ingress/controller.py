"""The ingress controller: watches Ingresses, IngressClasses, Services, EndpointSlices and
Secrets, and keeps one nginx serving them (ingress/render.py says how they map).

Each change marks the state dirty; one sync task renders the whole configuration, writes
it as a candidate, checks it with ``nginx -t``, swaps it in and reloads nginx (SIGHUP to
the master, what ``nginx -s reload`` sends: the master starts workers on the new
configuration and the old ones finish their in-flight requests before they exit). An Ingress that nginx refuses is found by
checking each Ingress's configuration alone, left out, and reported (a Warning event
and no address in its status) while the others are served. Served Ingresses get
``status.loadBalancer.ingress`` = the ``--publish-address``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.models import Secret, Service
from api.models.discovery import EndpointSlice
from api.models.networking import INGRESS_CLASS_ANNOTATION, Ingress, IngressClass
from client.events import EventRecorder
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from ingress.render import JSON, Cluster, Plan, Settings, build, key, render

log = logging.getLogger("ingress")

DEFAULT_CONTROLLER = "minik8s.io/ingress-nginx"
COMPONENT = "minik8s-ingress"


async def _run(*argv: str, timeout: float = 30) -> tuple[int, str]:
    p = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(p.communicate(), timeout)
    except TimeoutError:
        p.kill()
        await p.wait()
        return 1, f"{argv[0]} timed out"
    return p.returncode or 0, out.decode(errors="replace")


@dataclass
class Nginx:
    """One nginx master under ``run_dir``, run in the foreground as our child."""

    run_dir: Path
    binary: str = "nginx"
    proc: asyncio.subprocess.Process | None = None
    reloads: int = 0

    @property
    def conf(self) -> Path:
        return self.run_dir / "nginx.conf"

    def _args(self, conf: Path) -> list[str]:
        return [self.binary, "-p", str(self.run_dir), "-c", str(conf)]

    async def test(self, text: str, name: str = "candidate.conf") -> tuple[bool, str]:
        path = self.run_dir / name
        path.write_text(text)
        rc, out = await _run(*self._args(path), "-t", "-q")
        return rc == 0, out.strip()

    async def apply(self, text: str) -> None:
        """Swap in a tested configuration: start nginx on it, or reload."""
        tmp = self.run_dir / "nginx.conf.new"
        tmp.write_text(text)
        os.replace(tmp, self.conf)
        if self.proc is None or self.proc.returncode is not None:
            self.proc = await asyncio.create_subprocess_exec(
                *self._args(self.conf), "-g", "daemon off;", stdin=asyncio.subprocess.DEVNULL)
            return
        # What `nginx -s reload` does (SIGHUP to the master), without a third parse of the
        # configuration by the signalling process to find the pid file: the master is ours.
        self.proc.send_signal(signal.SIGHUP)
        self.reloads += 1

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()  # SIGTERM: fast shutdown
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def _second(f: Callable[[Any], None]) -> Callable[[Any, Any], None]:
    def on_update(_old: Any, new: Any) -> None:
        f(new)
    return on_update


def _spec_sig(obj: JSON) -> tuple[Any, Any]:
    md = obj.get("metadata") or {}
    return md.get("generation"), md.get("annotations")


@dataclass
class IngressController:
    client: AsyncClient
    run_dir: Path
    settings: Settings
    ingress_class: str = "nginx"
    controller_name: str = DEFAULT_CONTROLLER
    publish_address: str = "127.0.0.1"
    nginx_binary: str = "nginx"
    debounce: float = 0.02
    nginx: Nginx = field(init=False)
    factory: SharedInformerFactory = field(init=False)
    recorder: EventRecorder = field(init=False)
    syncs: int = 0
    last_sync: float = 0.0  # time.monotonic() of the last applied configuration
    plan: Plan | None = None
    _objs: dict[str, dict[str, JSON]] = field(default_factory=dict)
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _text: str = ""
    _reported: dict[str, str] = field(default_factory=dict)  # ingress -> last problem text
    _status: dict[str, str | None] = field(default_factory=dict)  # ingress -> address set
    _refused: set[str] = field(default_factory=set)
    _refused_why: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "certs").mkdir(exist_ok=True)
        self.settings.run_dir = str(self.run_dir)
        self.nginx = Nginx(self.run_dir, self.nginx_binary)
        self.factory = SharedInformerFactory(self.client)
        self.recorder = EventRecorder(self.client, COMPONENT)
        for model in (Ingress, IngressClass, Service, EndpointSlice, Secret):
            store: dict[str, JSON] = {}
            self._objs[model.__name__] = store
            on_set = self._setter(store)
            self.factory.informer(model).add_handler(on_set, _second(on_set),
                                                     self._deleter(store))

    def _setter(self, store: dict[str, JSON]) -> Callable[[Any], None]:
        def on_set(obj: Any) -> None:
            d = obj.to_dict()
            prev = store.get(key(d))
            store[key(d)] = d
            if prev is None or _spec_sig(prev) != _spec_sig(d):
                self._refused.discard(key(d))  # a changed Ingress is tried again
            self._dirty.set()
        return on_set

    def _deleter(self, store: dict[str, JSON]) -> Callable[[Any], None]:
        def on_delete(obj: Any) -> None:
            store.pop(key(obj.to_dict()), None)
            self._dirty.set()
        return on_delete

    def synced(self) -> bool:
        return all(i.has_synced for i in self.factory.informers) and self.syncs > 0

    def classes(self) -> set[str]:
        names = {self.ingress_class}
        for c in self._objs["IngressClass"].values():
            if (c.get("spec") or {}).get("controller") == self.controller_name:
                names.add((c.get("metadata") or {}).get("name") or "")
        return names

    def ours(self) -> list[JSON]:
        classes = self.classes()
        out = []
        for ing in self._objs["Ingress"].values():
            if (ing.get("metadata") or {}).get("deletionTimestamp"):
                continue
            cls = (ing.get("spec") or {}).get("ingressClassName")
            if cls is None:
                cls = ((ing.get("metadata") or {}).get("annotations") or {}).get(
                    INGRESS_CLASS_ANNOTATION)
            if cls in classes:
                out.append(ing)
        return out

    async def start(self) -> None:
        await self.factory.start_all()
        for inf in self.factory.informers:
            while not inf.has_synced:
                await asyncio.sleep(0.02)
        self._dirty.set()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.factory.stop_all()
        with contextlib.suppress(Exception):
            await self.recorder.close()
        await self.nginx.stop()

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync failed; retrying")
                await asyncio.sleep(1)
                self._dirty.set()

    def _cluster(self) -> Cluster:
        return Cluster(self._objs["Service"].values(), self._objs["EndpointSlice"].values(),
                       self._objs["Secret"].values())

    async def sync(self) -> None:
        ingresses = self.ours()
        cluster = self._cluster()
        plan = build(ingresses, cluster, self._refused)
        text = render(plan, self.settings)
        if text != self._text:
            self._write_certs(plan)
            ok, out = await self.nginx.test(text)
            if not ok:
                # Find the Ingresses nginx refuses, each checked alone, and leave them out.
                refused = await self._find_refused(ingresses, cluster, out)
                self._refused |= refused
                plan = build(ingresses, cluster, self._refused)
                text = render(plan, self.settings)
                ok, out = await self.nginx.test(text)
                if not ok:
                    log.error("nginx refuses the configuration even without %s: %s",
                              sorted(self._refused), out)
                    return
            await self.nginx.apply(text)
            self._text = text
            self._remove_old_certs(plan)
            self.last_sync = time.monotonic()
            log.info("nginx configured: %d ingresses, %d upstreams", len(plan.included),
                     len(plan.upstreams))
        # An Ingress refused before is tried again when it changes (on_set forgets it).
        self.plan = plan
        self.syncs += 1
        self._report(ingresses, plan)
        await self._update_status(ingresses, plan)

    async def _find_refused(self, ingresses: list[JSON], cluster: Cluster,
                            out: str) -> set[str]:
        refused: dict[str, str] = {}
        for ing in ingresses:
            k = key(ing)
            alone = build([ing], cluster)
            if k not in alone.included:
                continue
            ok, why = await self.nginx.test(render(alone, self.settings), "single.conf")
            if not ok:
                refused[k] = why
        self._refused_why.update(refused)
        return set(refused)

    def _write_certs(self, plan: Plan) -> None:
        d = self.run_dir / "certs"
        for name, data in plan.files.items():
            p = d / name
            if not p.exists() or p.read_bytes() != data:
                tmp = d / (name + ".tmp")
                tmp.write_bytes(data)
                os.chmod(tmp, 0o600)
                os.replace(tmp, p)

    def _remove_old_certs(self, plan: Plan) -> None:
        """Certificates no configuration names any more (the old workers have their own
        copy in memory)."""
        for p in (self.run_dir / "certs").iterdir():
            if p.name not in plan.files:
                with contextlib.suppress(OSError):
                    p.unlink()

    def _report(self, ingresses: list[JSON], plan: Plan) -> None:
        for ing in ingresses:
            k = key(ing)
            if k in self._refused:
                why = "nginx refused its configuration: " + self._refused_why.get(k, "")
                self._event(ing, "Warning", "Rejected", why, k)
            elif k in plan.problems:
                self._event(ing, "Warning", "Rejected", "; ".join(plan.problems[k]), k)
            elif k in plan.warnings:
                self._event(ing, "Warning", "Sync", "; ".join(plan.warnings[k]), k)
            else:
                self._event(ing, "Normal", "Sync", "Scheduled for sync", k)

    def _event(self, ing: JSON, type_: str, reason: str, message: str, k: str) -> None:
        gen = str((ing.get("metadata") or {}).get("generation") or "")
        text = f"{gen}|{type_}|{reason}|{message}"
        if self._reported.get(k) == text:
            return
        self._reported[k] = text
        with contextlib.suppress(Exception):
            self.recorder.event(Ingress.from_dict(ing), type_, reason, message[:1024])

    async def _update_status(self, ingresses: list[JSON], plan: Plan) -> None:
        served = set(plan.included)
        for ing in ingresses:
            k = key(ing)
            want = self.publish_address if k in served else None
            lb = (ing.get("status") or {}).get("loadBalancer") or {}
            have = [i.get("ip") or i.get("hostname") for i in lb.get("ingress") or []]
            if have == ([want] if want else []):
                continue
            md = ing.get("metadata") or {}
            body: JSON = {"status": {"loadBalancer": {
                "ingress": [{"ip": want}] if want else None}}}
            try:
                await self.client.patch(Ingress, md.get("name") or "", body,
                                        md.get("namespace"), subresource="status")
            except Exception as e:  # deleted meanwhile, or a conflict: the next sync fixes it
                log.debug("status of %s: %s", k, e)


def clean_run_dir(path: Path) -> None:
    for sub in ("candidate.conf", "single.conf"):
        with contextlib.suppress(FileNotFoundError):
            (path / sub).unlink()
    shutil.rmtree(path / "certs", ignore_errors=True)
