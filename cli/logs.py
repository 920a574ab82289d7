"""``minictl logs``: containers' logs through the API server (which asks the kubelet), with
kubectl logs' flags and choices: ``POD``, ``TYPE/NAME`` (the pod kubectl's
AttachablePodForObject picks: ``Found N pods, using pod/x``), ``-l`` (each pod, 10 lines
each unless ``--tail``), the default container (the ``kubectl.kubernetes.io/default-container``
annotation, else the first, ``Defaulted container "x" out of: ...``), ``--all-containers``,
``--prefix``, and ``-f`` over several streams at once up to ``--max-log-requests``."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import click

from api import labels, resources
from api.models import Pod
from api.podlogs import parse_rfc3339
from api.timeutil import parse_duration
from cli.context import State, resolve_kind, split_ref, state
from cli.errors import CliError
from cli.options import common
from client.errors import ApiError

USAGE = ("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
         "POD or TYPE/NAME is a required argument for the logs command")
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
SELECTOR_TAIL = 10
# SelectorsForObject: the kinds whose pods kubectl logs can pick
_SELECTABLE = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs",
               "replicationcontrollers", "services")


def _ready(p: Pod) -> tuple[bool, str]:
    for c in (p.status.conditions if p.status else None) or []:
        if c.type == "Ready":
            return c.status == "True", c.last_transition_time or ""
    return False, ""


def _restarts(p: Pod) -> int:
    return max((s.restart_count or 0 for s in (p.status.container_statuses if p.status
                                                else None) or []), default=0)


def _after_or_zero(t1: str, t2: str) -> bool:
    if not t1 or not t2:
        return not t1
    return t1 > t2


def _by_logging(a: Pod, b: Pod) -> int:
    """podutils.ByLogging: the pod best to show logs of first."""
    def less(i: Pod, j: Pod) -> bool:
        ni, nj = i.spec.node_name or "", j.spec.node_name or ""
        if ni != nj and (not ni or not nj):
            return bool(ni)
        rank = {"Running": 0, "Unknown": 1, "Pending": 2}
        pi = rank.get((i.status.phase if i.status else None) or "", 0)
        pj = rank.get((j.status.phase if j.status else None) or "", 0)
        if pi != pj:
            return pi < pj
        (ri, ti), (rj, tj) = _ready(i), _ready(j)
        if ri != rj:
            return ri
        if ri and rj and ti != tj:
            return _after_or_zero(tj, ti)
        if _restarts(i) != _restarts(j):
            return _restarts(i) > _restarts(j)
        ci, cj = i.metadata.creation_timestamp or "", j.metadata.creation_timestamp or ""
        if ci != cj:
            return _after_or_zero(cj, ci)
        return False
    return -1 if less(a, b) else (1 if less(b, a) else 0)


def _selector_of(st: State, kind: str, name: str) -> str:
    info = resolve_kind(kind)
    if info.plural not in _SELECTABLE:
        raise CliError(f"cannot get the logs from {info.kind}: selector for {info.kind} "
                       "not implemented")
    obj = st.client.get(info.model, name, st.namespace).to_dict()
    sel = (obj.get("spec") or {}).get("selector")
    if info.plural in ("replicationcontrollers", "services"):
        if not sel:
            raise CliError(f"cannot get the logs from {info.kind}: invalid service '{name}': "
                           "Service is defined without a selector")
        return str(labels.selector_from_set(sel))
    try:  # metav1.LabelSelectorAsSelector(...).String()
        return str(labels.from_label_selector(sel))
    except labels.SelectorError as e:
        raise CliError(f"cannot get the logs from {info.kind}: invalid label selector: "
                       f"{e}") from None


def _pods_for(st: State, selector: str, timeout: float) -> list[Pod]:
    """GetPodList: the pods of ``selector`` sorted ByLogging, waiting up to ``timeout`` for
    one to appear."""
    deadline = time.monotonic() + timeout
    while True:
        pods = st.client.list_all(Pod, st.namespace, label_selector=selector).items
        if pods:
            return sorted(pods, key=functools.cmp_to_key(_by_logging))
        if time.monotonic() >= deadline:
            raise CliError("timed out waiting for the condition")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _names(p: Pod) -> str:
    """podcmd.AllContainerNames."""
    eph = [str(c.get("name")) for c in p.spec.to_dict().get("ephemeralContainers") or []]
    return ", ".join([*(f"{c.name} (init)" for c in p.spec.init_containers or []),
                      *(c.name for c in p.spec.containers), *(f"{n} (ephem)" for n in eph)])


def _all_names(p: Pod) -> list[str]:
    eph = [c.get("name") for c in p.spec.to_dict().get("ephemeralContainers") or []]
    return [*(c.name for c in p.spec.init_containers or []),
            *(c.name for c in p.spec.containers), *(str(n) for n in eph)]


def _requests(p: Pod, container: str | None, all_containers: bool, quiet: bool
              ) -> list[tuple[Pod, str]]:
    """logsForObjectWithClient for one pod: (pod, container) per log to read."""
    if all_containers:
        return [(p, c) for c in _all_names(p)]
    if not container:
        ann = (p.metadata.annotations or {}).get(DEFAULT_CONTAINER, "")
        if ann:
            if ann in _all_names(p):
                container = ann
            else:
                click.echo(f'Default container name "{ann}" not found in pod '
                           f"{p.metadata.name}", err=True)
    if not container:
        container = p.spec.containers[0].name
        if (len(p.spec.containers) > 1 or p.spec.init_containers
                or p.spec.to_dict().get("ephemeralContainers")) and not quiet:
            click.echo(f'Defaulted container "{container}" out of: {_names(p)}', err=True)
    if container not in _all_names(p):
        raise CliError(f"container {container} is not valid for pod {p.metadata.name} "
                       f"out of: {_names(p)}")
    return [(p, container)]


class _Out:
    """Whole lines to stdout, each with the source's prefix when asked (prefixingWriter),
    one writer at a time so parallel streams never interleave within a line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def copy(self, chunks: Iterable[str], prefix: str) -> None:
        pending = ""
        for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split("\n")
            if lines:
                self.write("".join(f"{prefix}{line}\n" for line in lines))
        if pending:
            self.write(prefix + pending)

    def write(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text)
            sys.stdout.flush()


@click.command("logs")
@click.argument("args", nargs=-1)
@click.option("-c", "--container", help="Print the logs of this container")
@click.option("-f", "--follow", is_flag=True, help="Specify if the logs should be streamed.")
@click.option("--tail", type=int, default=-1,
              help="Lines of recent log file to display. Defaults to -1 with no selector, "
                   "showing all log lines otherwise 10, if a selector is provided.")
@click.option("-p", "--previous", is_flag=True,
              help="If true, print the logs for the previous instance of the container in a "
                   "pod if it exists.")
@click.option("--timestamps", is_flag=True,
              help="Include timestamps on each line in the log output")
@click.option("--since", "since", default=None,
              help="Only return logs newer than a relative duration like 5s, 2m, or 3h.")
@click.option("--since-time", "since_time", default=None,
              help="Only return logs after a specific date (RFC3339).")
@click.option("--limit-bytes", "limit_bytes", type=int, default=0,
              help="Maximum bytes of logs to return. Defaults to no limit.")
@click.option("--all-containers", "all_containers", is_flag=True,
              help="Get all containers' logs in the pod(s).")
@click.option("--prefix", is_flag=True,
              help="Prefix each log line with the log source (pod name and container name)")
@click.option("-l", "--selector", default=None, help="Selector (label query) to filter on.")
@click.option("--max-log-requests", "max_log_requests", type=int, default=5,
              help="Maximum number of concurrent logs to follow when using by a selector.")
@click.option("--ignore-errors", "ignore_errors", is_flag=True,
              help="If watching / following pod logs, allow for any errors that occur to be "
                   "non-fatal")
@click.option("--pod-running-timeout", "pod_running_timeout", default="20s",
              help="The length of time to wait until at least one pod is running")
@common
def logs_cmd(args: tuple[str, ...], container: str | None, follow: bool, tail: int,
             previous: bool, timestamps: bool, since: str | None, since_time: str | None,
             limit_bytes: int, all_containers: bool, prefix: bool, selector: str | None,
             max_log_requests: int, ignore_errors: bool, pod_running_timeout: str) -> None:
    """Print the logs for a container in a pod or specified resource.

    \b
    Examples:
      minictl logs nginx
      minictl logs nginx --all-containers=true
      minictl logs -l app=nginx --all-containers=true --prefix
      minictl logs -p -c ruby web-1
      minictl logs deployment/nginx --tail=20 -f
      minictl logs job/hello --since=1h
    """
    st = state()
    target: str | None = None
    if not args and not selector:
        raise CliError(USAGE)
    if len(args) == 1:
        target = args[0]
        if selector:
            raise CliError("only a selector (-l) or a POD name is allowed")
    elif len(args) == 2:
        target = args[0]
        if container:
            raise CliError("only one of -c or an inline [CONTAINER] arg is allowed")
        container = args[1]
    elif len(args) > 2:
        raise CliError(USAGE)
    since_seconds: int | None = None
    if since is not None:
        try:
            secs = parse_duration(since)
        except ValueError as e:
            raise CliError(f'invalid argument "{since}" for "--since" flag: time: {e}') from None
        since_seconds = int(secs + 0.5) or None
    since_param: str | None = None
    if since_time:
        try:  # metav1.Time: whole seconds on the wire
            when = parse_rfc3339(since_time)
        except ValueError as e:
            raise CliError(str(e)) from None
        since_param = datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if since_time and since:
        raise CliError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if all_containers and container:
        raise CliError(f"--all-containers=true should not be specified with container name "
                       f"{container}")
    if limit_bytes < 0:
        raise CliError("--limit-bytes must be greater than 0")
    if since is not None and parse_duration(since) < 0:
        raise CliError("--since must be greater than 0")
    if tail < -1:
        raise CliError("--tail must be greater than or equal to -1")
    tail_lines: int | None = tail if tail != -1 else None
    if selector and tail == -1:
        tail_lines = SELECTOR_TAIL
    try:
        timeout = parse_duration(pod_running_timeout)
    except ValueError as e:
        raise CliError(str(e)) from None

    resolve_kind("pods")
    todo: list[tuple[Pod, str]] = []
    if selector:
        pods = st.client.list_all(Pod, st.namespace, label_selector=selector).items
        if not pods:
            click.echo(f"No resources found in {st.namespace} namespace.", err=True)
        for p in pods:
            todo += _requests(p, container, all_containers, False)
    else:
        assert target is not None
        if "/" not in target:
            pod = st.client.get(Pod, target, st.namespace)
        else:
            info, name = split_ref(target)
            if info is resources.PODS:
                pod = st.client.get(Pod, name, st.namespace)
            else:
                found = _pods_for(st, _selector_of(st, info.plural, name), timeout)
                pod = found[0]
                if len(found) > 1:
                    click.echo(f"Found {len(found)} pods, using pod/{pod.metadata.name}",
                               err=True)
        todo = _requests(pod, container, all_containers, False)

    def stream(p: Pod, c: str) -> Iterator[str]:
        ns = p.metadata.namespace or st.namespace
        kw: dict[str, Any] = {"container": c, "tail_lines": tail_lines,
                              "timestamps": timestamps, "previous": previous,
                              "since_seconds": since_seconds, "since_time": since_param,
                              "limit_bytes": limit_bytes or None}
        if follow:
            yield from st.client.pod_logs(p.metadata.name or "", ns, follow=True, **kw)
        else:
            yield st.client.pod_logs(p.metadata.name or "", ns, **kw)

    out = _Out()

    def label(p: Pod, c: str) -> str:
        return f"[pod/{p.metadata.name}/{c}] " if prefix else ""

    if follow and len(todo) > 1:
        if len(todo) > max_log_requests:
            raise CliError(f"you are attempting to follow {len(todo)} log streams, but maximum "
                           f"allowed concurrency is {max_log_requests}, use --max-log-requests "
                           "to increase the limit")
        failures: list[BaseException] = []

        def run(p: Pod, c: str) -> None:
            try:
                out.copy(stream(p, c), label(p, c))
            except ApiError as e:
                if not ignore_errors:
                    failures.append(e)
                else:
                    out.write(f"error: {e.message}\n")

        threads = [threading.Thread(target=run, args=pc, daemon=True) for pc in todo]
        for th in threads:
            th.start()
        for th in threads:
            while th.is_alive() and not failures:
                th.join(0.2)
        if failures:
            raise failures[0]
        return
    for p, c in todo:
        out.copy(stream(p, c), label(p, c))
