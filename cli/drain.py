"""``minictl drain NODE...``: cordon, then evict (or delete) the node's pods, as
k8s.io/kubectl/pkg/cmd/drain and pkg/drain do: the filters (pods being deleted long ago,
DaemonSet-managed, mirror, local storage, unmanaged) with kubectl's errors and warnings,
evictions in parallel retried every 5 s while a PodDisruptionBudget answers 429, then a
wait until each pod is gone; ``--disable-eviction`` deletes instead; ``--dry-run``."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from api.models import Pod
from api.models.apps import DaemonSet
from api.timeutil import go_duration
from cli.context import State, state
from cli.node_cmds import _DRY_RUN, _SELECTOR, _cordon, _dry_run, _nodes
from cli.options import common
from cli.output import parse_duration
from client.errors import ApiError, NotFound, TooManyRequests

DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
RETRY_SECONDS = 5.0

OKAY, SKIP, WARNING, ERROR = "Okay", "Skip", "Warning", "Error"


class DrainError(Exception):
    pass


def aggregate(errs: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as is, several in brackets."""
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


def _phase_done(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _controller(pod: dict[str, Any]) -> dict[str, Any] | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


class Drainer:
    def __init__(self, st: State, *, force: bool, ignore_daemonsets: bool,
                 delete_emptydir_data: bool, grace_period: int, timeout: float,
                 pod_selector: str | None, disable_eviction: bool, dry_run: str,
                 skip_wait_for_delete_timeout: int) -> None:
        self.st = st
        self.force = force
        self.ignore_daemonsets = ignore_daemonsets
        self.delete_emptydir_data = delete_emptydir_data
        self.grace_period = grace_period
        self.timeout = timeout
        self.pod_selector = pod_selector
        self.disable_eviction = disable_eviction
        self.dry_run = dry_run
        self.skip_wait = skip_wait_for_delete_timeout
        self.lock = threading.Lock()

    def out(self, line: str, err: bool = False) -> None:
        with self.lock:
            click.echo(line, err=err)

    # ---- GetPodsForDeletion ------------------------------------------------------------

    def _daemonset_filter(self, pod: dict[str, Any]) -> tuple[bool, str, str]:
        ref = _controller(pod)
        if ref is None or ref.get("kind") != "DaemonSet" or _phase_done(pod):
            return True, OKAY, ""
        ns = pod["metadata"].get("namespace")
        try:
            self.st.client.get(DaemonSet, ref.get("name") or "", ns)
        except NotFound as e:
            if self.force:
                return True, WARNING, e.message
            return False, ERROR, e.message
        except ApiError as e:
            return False, ERROR, e.message
        if not self.ignore_daemonsets:
            return False, ERROR, DAEMONSET_FATAL
        return False, WARNING, DAEMONSET_WARNING

    def _status(self, pod: dict[str, Any]) -> tuple[bool, str, str]:
        md = pod.get("metadata") or {}
        # skipDeletedFilter
        if self.skip_wait > 0 and md.get("deletionTimestamp"):
            from api.timeutil import parse_time

            age = time.time() - parse_time(md["deletionTimestamp"]).timestamp()
            if int(age) > self.skip_wait:
                return False, SKIP, ""
        status = self._daemonset_filter(pod)
        if not status[0]:
            return status
        if MIRROR_ANNOTATION in (md.get("annotations") or {}):
            return False, SKIP, ""
        if any("emptyDir" in (v or {}) for v in (pod.get("spec") or {}).get("volumes") or []) \
                and not _phase_done(pod):
            if not self.delete_emptydir_data:
                return False, ERROR, LOCAL_STORAGE_FATAL
            status = (True, WARNING, LOCAL_STORAGE_WARNING)
        if _phase_done(pod) or _controller(pod) is not None:
            return status if status[1] == WARNING else (True, OKAY, "")
        if self.force:
            return True, WARNING, UNMANAGED_WARNING
        return False, ERROR, UNMANAGED_FATAL

    def pods_for_deletion(self, node: str) -> tuple[list[dict[str, Any]], str, list[str]]:
        """(pods to delete, the warnings line, errors)."""
        listed = self.st.client.list_all(Pod, None, label_selector=self.pod_selector or None,
                                         field_selector=f"spec.nodeName={node}")
        pods: list[dict[str, Any]] = []
        warnings: dict[str, list[str]] = {}
        failures: dict[str, list[str]] = {}
        for p in listed.items:
            pod = p.to_dict()
            delete, reason, message = self._status(pod)
            ref = f"{pod['metadata'].get('namespace')}/{pod['metadata'].get('name')}"
            if reason == WARNING:
                warnings.setdefault(message, []).append(ref)
            elif reason == ERROR:
                failures.setdefault(message or "unexpected error", []).append(ref)
            if delete:
                pods.append(pod)
        warn = "; ".join(f"{m}: {', '.join(ps)}" for m, ps in warnings.items())
        errs = [f"{m}: {', '.join(ps)}" if m.lower().startswith("cannot delete")
                else f"cannot delete {m}: {', '.join(ps)}" for m, ps in failures.items()]
        return pods, warn, errs

    # ---- DeleteOrEvictPods ---------------------------------------------------------------

    def _delete_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.grace_period >= 0:
            opts["gracePeriodSeconds"] = self.grace_period
        if self.dry_run == "server":
            opts["dryRun"] = ["All"]
        return opts

    def _deadline_passed(self, deadline: float | None) -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def _wait_gone(self, pods: list[dict[str, Any]], deadline: float | None,
                   verb: str) -> None:
        pending = list(pods)
        while True:
            left = []
            for pod in pending:
                md = pod["metadata"]
                try:
                    cur = self.st.client.get(Pod, md["name"], md.get("namespace"))
                except NotFound:
                    self.out(f"pod/{md['name']} {verb}")
                    continue
                if cur.metadata.uid != md.get("uid"):
                    self.out(f"pod/{md['name']} {verb}")
                    continue
                ts = cur.metadata.deletion_timestamp
                if self.skip_wait > 0 and ts:
                    from api.timeutil import parse_time

                    if int(time.time() - parse_time(ts).timestamp()) > self.skip_wait:
                        self.out(f'pod "{md["name"]}" has DeletionTimestamp older than '
                                 f"{self.skip_wait} seconds, skipping")
                        continue
                left.append(pod)
            pending = left
            if not pending:
                return
            if self._deadline_passed(deadline):
                raise DrainError(f"global timeout reached: {go_duration(self.timeout)}")
            time.sleep(1.0)

    def _evict_one(self, pod: dict[str, Any], deadline: float | None) -> str | None:
        md = pod["metadata"]
        name, ns = md["name"], md.get("namespace") or ""
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns},
                "deleteOptions": self._delete_options()}
        path = f"/api/v1/namespaces/{ns}/pods/{name}/eviction"
        while True:
            if self.dry_run == "server":
                self.out(f"evicting pod {ns}/{name} (server dry run)")
            else:
                self.out(f"evicting pod {ns}/{name}")
            if self._deadline_passed(deadline):
                return (f'error when evicting pods/"{name}" -n "{ns}": global timeout reached: '
                        f"{go_duration(self.timeout)}")
            try:
                self.st.client.request("POST", path, json=body)
                break
            except NotFound:
                return None
            except TooManyRequests as e:
                self.out(f'error when evicting pods/"{name}" -n "{ns}" (will retry after 5s): '
                         f"{e.message}", err=True)
                wait = RETRY_SECONDS
                if deadline is not None:
                    wait = max(min(wait, deadline - time.monotonic()), 0.0)
                time.sleep(wait)
            except ApiError as e:
                return f'error when evicting pods/"{name}" -n "{ns}": {e.message}'
        if self.dry_run == "server":
            return None
        try:
            self._wait_gone([pod], deadline, "evicted")
        except DrainError as e:
            return f'error when waiting for pod "{name}" in namespace "{ns}" to terminate: {e}'
        return None

    def delete_or_evict(self, pods: list[dict[str, Any]]) -> None:
        if not pods:
            return
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        if not self.disable_eviction:
            with ThreadPoolExecutor(max_workers=min(len(pods), 16)) as pool:
                results = list(pool.map(lambda p: self._evict_one(p, deadline), pods))
            errs = [r for r in results if r]
            if errs:
                raise DrainError(aggregate(errs))
            return
        params = {"dryRun": "All"} if self.dry_run == "server" else None
        for pod in pods:
            md = pod["metadata"]
            body: dict[str, Any] = {}
            if self.grace_period >= 0:
                body["gracePeriodSeconds"] = self.grace_period
            try:
                self.st.client.request(
                    "DELETE", f"/api/v1/namespaces/{md.get('namespace')}/pods/{md['name']}",
                    params=params, json=body or None)
            except NotFound:
                pass
            except ApiError as e:
                raise DrainError(e.message) from None
        if self.dry_run != "server":
            self._wait_gone(pods, deadline, "deleted")

    def drain(self, node: str) -> None:
        pods, warnings, errs = self.pods_for_deletion(node)
        if errs:
            raise DrainError(aggregate(errs))
        if warnings:
            self.out(f"Warning: {warnings}", err=True)
        if self.dry_run == "client":
            for pod in pods:
                self.out(f"evicting pod {pod['metadata'].get('namespace')}/"
                         f"{pod['metadata']['name']} (dry run)")
            return
        try:
            self.delete_or_evict(pods)
        except DrainError as e:
            pending, _, _ = self.pods_for_deletion(node)
            if pending:
                self.out(f'There are pending pods in node "{node}" when an error occurred: {e}',
                         err=True)
                for p in pending:
                    self.out(f"pod/{p['metadata']['name']}", err=True)
            raise


@click.command("drain")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True,
              help="Continue even if there are pods that do not declare a controller.")
@click.option("--ignore-daemonsets", is_flag=True, help="Ignore DaemonSet-managed pods.")
@click.option("--delete-emptydir-data", is_flag=True,
              help="Continue even if there are pods using emptyDir (local data that will be "
                   "deleted when the node is drained).")
@click.option("--grace-period", type=int, default=-1, show_default=True,
              help="Period of time in seconds given to each pod to terminate gracefully. If "
                   "negative, the default value specified in the pod will be used.")
@click.option("--timeout", "timeout_", default="0s", show_default=True,
              help="The length of time to wait before giving up, zero means infinite")
@click.option("--pod-selector", default="", help="Label selector to filter pods on the node")
@click.option("--disable-eviction", is_flag=True,
              help="Force drain to use delete, even if eviction is supported. This will "
                   "bypass checking PodDisruptionBudgets, use with caution.")
@click.option("--skip-wait-for-delete-timeout", type=int, default=0, show_default=True,
              help="If pod DeletionTimestamp older than N seconds, skip waiting for the pod.")
@_SELECTOR
@_DRY_RUN
@common
def drain_cmd(names: tuple[str, ...], force: bool, ignore_daemonsets: bool,
              delete_emptydir_data: bool, grace_period: int, timeout_: str, pod_selector: str,
              disable_eviction: bool, skip_wait_for_delete_timeout: int, selector: str | None,
              dry_run: str) -> None:
    """Drain node in preparation for maintenance: cordon it, then evict its pods.

    \b
    Examples:
      minictl drain node-2 --ignore-daemonsets
      minictl drain node-2 --force --grace-period=0
    """
    st = state()
    dry_run = _dry_run(dry_run)
    if not names and not selector:
        raise click.UsageError("USAGE: drain NODE [flags]")
    timeout = parse_duration(timeout_)
    nodes = _nodes(st, names, selector)
    _cordon(names, selector, dry_run, True)
    drainer = Drainer(st, force=force, ignore_daemonsets=ignore_daemonsets,
                      delete_emptydir_data=delete_emptydir_data, grace_period=grace_period,
                      timeout=timeout, pod_selector=pod_selector, disable_eviction=disable_eviction,
                      dry_run=dry_run, skip_wait_for_delete_timeout=skip_wait_for_delete_timeout)
    fatal: list[str] = []
    remaining: list[str] = []
    for node in nodes:
        name = node.metadata.name or ""
        try:
            drainer.drain(name)
        except DrainError as e:
            drainer.out(f'error: unable to drain node "{name}" due to error: {e}, continuing '
                        "command...", err=True)
            fatal.append(str(e))
            remaining.append(name)
            continue
        suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")
        drainer.out(f"node/{name} drained{suffix}")
    if remaining:
        drainer.out("There are pending nodes to be drained:", err=True)
        for name in remaining:
            drainer.out(f" {name}", err=True)
        # kubectl prints the aggregated errors as they are (no "error: " before them)
        drainer.out(aggregate(fatal), err=True)
        click.get_current_context().exit(1)
