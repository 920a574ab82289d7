"""``minictl rollout status|history|undo|restart|pause|resume`` for deployments (and
status|history|undo|restart for daemonsets and statefulsets).

Same semantics as kubectl: history lists the deployment's ReplicaSets by their
``deployment.kubernetes.io/revision``; undo copies a ReplicaSet's pod template back into
the deployment (the controller then rolls it out as a new revision); restart stamps
``kubectl.kubernetes.io/restartedAt`` on the template so every pod is replaced. A
DaemonSet's or StatefulSet's history is its ControllerRevisions (their ``revision``); undo
applies the chosen revision's data (a strategic merge patch that replaces the template), as
kubectl's DaemonSetRollbacker and StatefulSetRollbacker do.
"""

from __future__ import annotations

import time
from typing import Any

import click

from api import resources
from api.models import Deployment
from api.models.apps import ControllerRevision, DaemonSet, StatefulSet
from api.models.core import PodTemplateSpec
from api.resources import ResourceInfo
from api.timeutil import now
from api.wellknown import (
    CHANGE_CAUSE_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
    RESTARTED_AT_ANNOTATION,
    ROLLOUT_ANNOTATIONS,
    revision_of,
)
from cli import output, tables
from cli.context import State, object_refs, state
from cli.deployment_util import owned_replicasets
from cli.describe import describe_template
from cli.errors import CliError
from cli.options import common
from client.errors import Conflict, Gone

# The kinds whose history is ControllerRevisions, by their REST info.
_REVISIONED: dict[ResourceInfo, type[DaemonSet] | type[StatefulSet]] = {
    resources.DAEMONSETS: DaemonSet, resources.STATEFULSETS: StatefulSet}


def _deployment_refs(args: tuple[str, ...], daemonsets: bool = False
                     ) -> list[tuple[ResourceInfo, str]]:
    """The objects named; ``daemonsets``: daemonsets and statefulsets too."""
    refs = object_refs(args)
    for info, _ in refs:
        if daemonsets and info in _REVISIONED:
            continue
        if info is not resources.DEPLOYMENTS:
            raise CliError(f"no rollout support for {info.plural}: only deployments"
                           + (", daemonsets and statefulsets" if daemonsets else ""))
    return refs


def statefulset_status_message(sts: StatefulSet) -> tuple[str, bool]:
    """kubectl's StatefulSetStatusViewer: (message, done)."""
    strategy = sts.spec.update_strategy
    if strategy is not None and strategy.type != "RollingUpdate":
        raise CliError("rollout status is only available for RollingUpdate strategy type")
    st = sts.status
    if st is None or not st.observed_generation or \
            (sts.metadata.generation or 0) > st.observed_generation:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = sts.spec.replicas
    if replicas is not None and (st.ready_replicas or 0) < replicas:
        return f"Waiting for {replicas - (st.ready_replicas or 0)} pods to be ready...", False
    ru = strategy.rolling_update if strategy is not None else None
    if ru is not None:
        if replicas is not None and ru.partition is not None and \
                (st.updated_replicas or 0) < replicas - ru.partition:
            return ("Waiting for partitioned roll out to finish: "
                    f"{st.updated_replicas or 0} out of {replicas - ru.partition} new pods "
                    "have been updated..."), False
        return (f"partitioned roll out complete: {st.updated_replicas or 0} new pods have "
                "been updated..."), True
    if st.update_revision != st.current_revision:
        return ("waiting for statefulset rolling update to complete "
                f"{st.updated_replicas or 0} pods at revision {st.update_revision}..."), False
    return (f"statefulset rolling update complete {st.current_replicas or 0} pods at "
            f"revision {st.current_revision}..."), True


def daemonset_status_message(ds: DaemonSet) -> tuple[str, bool]:
    """kubectl's DaemonSetStatusViewer: (message, done)."""
    name = ds.metadata.name
    strategy = ds.spec.update_strategy
    if strategy is not None and strategy.type != "RollingUpdate":
        raise CliError("rollout status is only available for RollingUpdate strategy type")
    st = ds.status
    if st is not None and (ds.metadata.generation or 0) <= (st.observed_generation or 0):
        desired = st.desired_number_scheduled
        if (st.updated_number_scheduled or 0) < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: '
                    f"{st.updated_number_scheduled or 0} out of {desired} new pods have been "
                    "updated..."), False
        if (st.number_available or 0) < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: '
                    f"{st.number_available or 0} of {desired} updated pods are available..."
                    ), False
        return f'daemon set "{name}" successfully rolled out', True
    return "Waiting for daemon set spec update to be observed...", False


def daemonset_history(st: State, ds: DaemonSet | StatefulSet) -> dict[int, ControllerRevision]:
    """The ControllerRevisions this DaemonSet (or StatefulSet) controls, by revision number."""
    revs = st.client.list_all(ControllerRevision, ds.metadata.namespace or st.namespace).items
    uid = ds.metadata.uid
    return {r.revision: r for r in revs if any(o.uid == uid and o.controller
                                               for o in r.metadata.owner_references or [])}


def _revision_template(rev: ControllerRevision) -> PodTemplateSpec:
    """The pod template a DaemonSet revision's data restores (its $patch directive off)."""
    tmpl = dict(((rev.data or {}).get("spec") or {}).get("template") or {})
    tmpl.pop("$patch", None)
    return PodTemplateSpec.model_validate(tmpl)


def status_message(dep: Deployment) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done); raises when the deadline passed."""
    name = dep.metadata.name
    st = dep.status
    if (dep.metadata.generation or 0) <= ((st.observed_generation if st else None) or 0):
        for c in (st.conditions if st else None) or []:
            if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
                raise CliError(f'deployment "{name}" exceeded its progress deadline')
        desired = dep.spec.replicas if dep.spec.replicas is not None else 1
        updated = (st.updated_replicas if st else None) or 0
        replicas = (st.replicas if st else None) or 0
        available = (st.available_replicas if st else None) or 0
        if updated < desired:
            return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
                    f"{desired} new replicas have been updated..."), False
        if replicas > updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} '
                    "old replicas are pending termination..."), False
        if available < updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {available} of '
                    f"{updated} updated replicas are available..."), False
        return f'deployment "{name}" successfully rolled out', True
    return "Waiting for deployment spec update to be observed...", False


@click.group("rollout")
def rollout_cmd() -> None:
    """Manage the rollout of a deployment."""


@rollout_cmd.command("status")
@click.argument("args", nargs=-1, required=True)
@click.option("-w", "--watch/--no-watch", default=True, show_default=True,
              help="Wait until the rollout finishes.")
@click.option("--timeout", default="0", metavar="DURATION",
              help="Give up after this long, e.g. 2m; 0 means no limit.")
@common
def status_cmd(args: tuple[str, ...], watch: bool, timeout: str) -> None:
    """Show the status of a rollout, waiting until it completes.

    \b
    Example:
      minictl rollout status deployment/nginx --timeout=2m
    """
    st = state()
    limit = output.parse_duration(timeout)
    deadline = time.monotonic() + limit if limit > 0 else None
    for info, name in _deployment_refs(args, daemonsets=True):
        last = ""
        is_ds = info is resources.DAEMONSETS
        model: type[Deployment] | type[DaemonSet] | type[StatefulSet] = \
            _REVISIONED.get(info, Deployment)

        def message(obj: Any, is_ds: bool = is_ds) -> tuple[str, bool]:
            if isinstance(obj, StatefulSet):
                return statefulset_status_message(obj)
            return daemonset_status_message(obj) if is_ds else status_message(obj)
        while True:
            dep = st.client.get(model, name, st.namespace)
            msg, done = message(dep)
            if msg != last:
                click.echo(msg)
                last = msg
            if done or not watch:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise CliError("timed out waiting for the condition")
            try:
                for ev in st.client.watch(model, st.namespace,
                                          resource_version=dep.metadata.resource_version,
                                          field_selector=f"metadata.name={name}",
                                          timeout_seconds=max(1, min(30, int(left or 30)))):
                    if ev.type == "DELETED":
                        what = {resources.DAEMONSETS: "daemon set",
                                resources.STATEFULSETS: "statefulset"}.get(info, "deployment")
                        raise CliError(f'{what} "{name}" was deleted')
                    if ev.type in ("ADDED", "MODIFIED"):
                        msg, done = message(ev.object)
                        if msg != last:
                            click.echo(msg)
                            last = msg
                        if done:
                            break
                    if deadline is not None and time.monotonic() > deadline:
                        break
            except Gone:
                continue
            if done:
                break


@rollout_cmd.command("history")
@click.argument("args", nargs=-1, required=True)
@click.option("--revision", type=int, default=0, help="Show the pod template of this revision.")
@common
def history_cmd(args: tuple[str, ...], revision: int) -> None:
    """List the revisions of a deployment (or show one with --revision)."""
    st = state()
    for info, name in _deployment_refs(args, daemonsets=True):
        if info in _REVISIONED:
            _daemonset_history(st, info, name, revision)
            continue
        dep = st.client.get(Deployment, name, st.namespace)
        by_rev = {revision_of(r): r for r in owned_replicasets(st, dep) if revision_of(r)}
        if revision:
            rs = by_rev.get(revision)
            if rs is None or rs.spec.template is None:
                raise CliError(f"unable to find the specified revision {revision}")
            click.echo(f"{tables.qualified_name(info, name)} with revision #{revision}")
            click.echo(describe_template(rs.spec.template).rstrip("\n"))
            continue
        click.echo(f"{tables.qualified_name(info, name)} ")
        rows = [["REVISION", "CHANGE-CAUSE"]]
        for rev in sorted(by_rev):
            cause = (by_rev[rev].metadata.annotations or {}).get(CHANGE_CAUSE_ANNOTATION) or "<none>"
            rows.append([str(rev), cause])
        click.echo("\n".join("  ".join(c.ljust(w) for c, w in zip(r, tables.widths(rows),
                                                                   strict=False)).rstrip()
                             for r in rows))
        click.echo()


def _daemonset_history(st: State, info: ResourceInfo, name: str, revision: int) -> None:
    by_rev = daemonset_history(st, st.client.get(_REVISIONED[info], name, st.namespace))
    if revision:
        rev = by_rev.get(revision)
        if rev is None:
            raise CliError(f"unable to find the specified revision {revision}")
        click.echo(f"{tables.qualified_name(info, name)} with revision #{revision}")
        click.echo(describe_template(_revision_template(rev)).rstrip("\n"))
        return
    click.echo(f"{tables.qualified_name(info, name)} ")
    rows = [["REVISION", "CHANGE-CAUSE"]]
    for n in sorted(by_rev):
        cause = (by_rev[n].metadata.annotations or {}).get(CHANGE_CAUSE_ANNOTATION) or "<none>"
        rows.append([str(n), cause])
    click.echo("\n".join("  ".join(c.ljust(w) for c, w in zip(r, tables.widths(rows),
                                                               strict=False)).rstrip()
                         for r in rows))
    click.echo()


def _daemonset_undo(st: State, info: ResourceInfo, name: str, to_revision: int) -> None:
    """kubectl's DaemonSetRollbacker (StatefulSetRollbacker): patch the object with the
    revision's data."""
    model = _REVISIONED[info]
    ds = st.client.get(model, name, st.namespace)
    by_rev = daemonset_history(st, ds)
    if to_revision == 0 and len(by_rev) <= 1:
        raise CliError("no last revision to roll back to")
    if to_revision:
        target = by_rev.get(to_revision)
        if target is None:
            raise CliError(f"unable to find specified revision {to_revision} in history")
    else:
        current = max(by_rev)
        to_revision = max(r for r in by_rev if r != current)
        target = by_rev[to_revision]
    if _revision_template(target).to_dict() == ds.spec.template.to_dict():
        click.echo(f"{tables.qualified_name(info, name)} skipped rollback (current template "
                   f"already matches revision {to_revision})")
        return
    st.client.patch(model, name, target.data or {}, st.namespace, patch_type="strategic")
    output.done(info, name, "rolled back")


def _template_without_hash(t: PodTemplateSpec) -> dict[str, Any]:
    d = t.to_dict()
    labels = (d.get("metadata") or {}).get("labels") or {}
    labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    if "metadata" in d:
        d["metadata"].pop("creationTimestamp", None)
    return d


def _update_deployment(st: State, name: str, change: Any) -> Deployment:
    for _ in range(5):
        dep = st.client.get(Deployment, name, st.namespace)
        result = change(dep)
        if result is None:
            return dep
        try:
            return st.client.update(dep)
        except Conflict:
            continue
    raise CliError(f"could not update deployments.apps/{name}: it kept changing (conflicts)")


@rollout_cmd.command("undo")
@click.argument("args", nargs=-1, required=True)
@click.option("--to-revision", type=int, default=0,
              help="The revision to roll back to (default: the previous one).")
@common
def undo_cmd(args: tuple[str, ...], to_revision: int) -> None:
    """Roll a deployment back to its previous (or a given) revision."""
    st = state()
    for info, name in _deployment_refs(args, daemonsets=True):
        if info in _REVISIONED:
            _daemonset_undo(st, info, name, to_revision)
            continue
        dep = st.client.get(Deployment, name, st.namespace)
        if dep.spec.paused:
            raise CliError("you cannot rollback a paused deployment; resume it first with "
                           "'minictl rollout resume' and try again")
        by_rev = {revision_of(r): r for r in owned_replicasets(st, dep) if revision_of(r)}
        if to_revision:
            target = by_rev.get(to_revision)
            if target is None:
                raise CliError(f"unable to find specified revision {to_revision} in history")
        else:
            if len(by_rev) < 2:
                raise CliError(f'no rollout history found for deployment "{name}"')
            current = max(by_rev)
            target = by_rev[max(r for r in by_rev if r != current)]
        if target.spec.template is None:
            raise CliError("the ReplicaSet of that revision has no pod template")
        wanted = _template_without_hash(target.spec.template)
        if _template_without_hash(dep.spec.template) == wanted:
            click.echo(f"{tables.qualified_name(info, name)} skipped rollback (current template "
                       f"already matches revision {revision_of(target)})")
            continue
        annotations = {k: v for k, v in (target.metadata.annotations or {}).items()
                       if k not in ROLLOUT_ANNOTATIONS}

        def change(d: Deployment, wanted: dict[str, Any] = wanted,
                   annotations: dict[str, str] = annotations) -> bool:
            d.spec.template = PodTemplateSpec.model_validate(wanted)
            if annotations:
                d.metadata.annotations = {**(d.metadata.annotations or {}), **annotations}
            return True

        _update_deployment(st, name, change)
        output.done(info, name, "rolled back")


@rollout_cmd.command("restart")
@click.argument("args", nargs=-1, required=True)
@common
def restart_cmd(args: tuple[str, ...]) -> None:
    """Replace every pod of a deployment (stamps kubectl.kubernetes.io/restartedAt)."""
    st = state()
    for info, name in _deployment_refs(args, daemonsets=True):
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now()}}}}}
        if info in _REVISIONED:
            st.client.patch(_REVISIONED[info], name, patch, st.namespace, patch_type="merge")
            output.done(info, name, "restarted")
            continue
        dep = st.client.get(Deployment, name, st.namespace)
        if dep.spec.paused:
            raise CliError("can't restart paused deployment (run rollout resume first)")
        st.client.patch(Deployment, name, patch, st.namespace, patch_type="merge")
        output.done(info, name, "restarted")


def _set_paused(args: tuple[str, ...], paused: bool) -> None:
    st = state()
    for info, name in _deployment_refs(args):
        dep = st.client.get(Deployment, name, st.namespace)
        if bool(dep.spec.paused) == paused:
            raise CliError(f'deployments.apps "{name}" is {"already" if paused else "not"} '
                           "paused")
        st.client.patch(Deployment, name, {"spec": {"paused": paused}}, st.namespace,
                        patch_type="merge")
        output.done(info, name, "paused" if paused else "resumed")


@rollout_cmd.command("pause")
@click.argument("args", nargs=-1, required=True)
@common
def pause_cmd(args: tuple[str, ...]) -> None:
    """Pause a deployment: template changes are not rolled out until resume."""
    _set_paused(args, True)


@rollout_cmd.command("resume")
@click.argument("args", nargs=-1, required=True)
@common
def resume_cmd(args: tuple[str, ...]) -> None:
    """Resume a paused deployment."""
    _set_paused(args, False)
