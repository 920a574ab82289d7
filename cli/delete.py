"""``minictl delete``: by name, by ``-l``, by ``-f``; cascade modes; wait until gone."""

from __future__ import annotations

import time

import click

from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import manifests, output, write_util
from cli.context import State, resolve_kind, split_ref, state
from cli.errors import CliError
from cli.options import common
from client.errors import ApiError, Gone, NotFound

CASCADE = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "true": "Background", "false": "Orphan"}


def display_name(info: ResourceInfo, name: str) -> str:
    kind = info.plural + (f".{info.group}" if info.group else "")
    return f'{kind} "{name}"'


def wait_deleted(st: State, info: ResourceInfo, name: str, ns: str | None, uid: str | None,
                 timeout: float) -> bool:
    """True once the object with ``uid`` is gone (a new object of that name does not count)."""
    deadline = None if timeout <= 0 else time.monotonic() + timeout
    while True:
        try:
            cur = st.client.get(info.model, name, ns)
        except NotFound:
            return True
        if uid and cur.metadata.uid != uid:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        try:
            for ev in st.client.watch(info.model, ns, resource_version=cur.metadata.resource_version,
                                      field_selector=f"metadata.name={name}",
                                      timeout_seconds=max(1, min(30, int(left or 30)))):
                if ev.type == "DELETED" and (not uid or ev.object.metadata.uid == uid):
                    return True
                if deadline is not None and time.monotonic() > deadline:
                    return False
        except Gone:
            continue


def kubectl_line(info: ResourceInfo, name: str, ns: str | None, operation: str,
                 mode: str = "none") -> str:
    """kubectl 1.37's line (delete.go PrintObj): ``deployment.apps "web" deleted from NS
    namespace (server dry run)``."""
    kind = info.kind.lower() + (f".{info.group}" if info.group else "")
    where = f" from {ns} namespace" if ns is not None else ""
    return f'{kind} "{name}" {operation}{where}{write_util.dry_suffix(mode)}'


@click.command("delete")
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", multiple=True, help="Delete the objects in these files.")
@click.option("-l", "--selector", help="Delete the objects matching this label selector.")
@click.option("--all", "all_", is_flag=True, help="Delete every object of the kind.")
@click.option("--cascade", default="background", show_default=True,
              metavar="background|foreground|orphan",
              help="How dependents go: background (after), foreground (before) or orphan (kept).")
@click.option("--wait", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              show_default=True, metavar="[true|false]",
              help="Wait until the objects are gone (--wait=false: return at once).")
@click.option("--no-wait", "no_wait", is_flag=True, help="Same as --wait=false.")
@click.option("--timeout", default="0", metavar="DURATION",
              help="How long --wait waits, e.g. 60s; 0 means no limit.")
@click.option("--grace-period", type=int, default=-1,
              help="Seconds a pod gets to stop (-1: the pod's own setting).")
@click.option("--now", is_flag=True, help="Same as --grace-period=1.")
@click.option("--force", is_flag=True, help="With --grace-period=0: delete at once.")
@click.option("--ignore-not-found", is_flag=True, help="A missing object is not an error.")
@click.option("-A", "--all-namespaces", is_flag=True, help="With -l/--all: in every namespace.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@write_util.dry_run_option
@common
def delete_cmd(args: tuple[str, ...], filename: tuple[str, ...], selector: str | None,
               all_: bool, cascade: str, wait: bool, no_wait: bool, timeout: str,
               grace_period: int,
               now: bool, force: bool, ignore_not_found: bool, all_namespaces: bool,
               recursive: bool, dry_run: str) -> None:
    """Delete resources by name, by label selector, or from files.

    \b
    Examples:
      minictl delete deployment nginx
      minictl delete pod/web pod/db --now
      minictl delete pods -l app=nginx
      minictl delete -f manifests/
      minictl delete deployment nginx --cascade=orphan
    """
    st = state()
    mode = write_util.parse_dry_run(dry_run)
    wait = wait and not no_wait and mode == "none"
    policy = CASCADE.get(cascade.lower())
    if policy is None:
        raise CliError(f'invalid cascade value ({cascade}). Must be "background", '
                       '"foreground", or "orphan".')
    limit = output.parse_duration(timeout)
    grace: int | None = None if grace_period < 0 else grace_period
    if now:
        grace = 1
    if force and grace is None:
        grace = 0
    if grace == 0 and not force:
        grace = 1  # kubectl: a zero grace period without --force means "as fast as safe"

    targets: list[tuple[ResourceInfo, str, str | None]] = []
    sources: list[str] = []
    if filename:
        if args or selector:
            raise CliError("cannot specify resource names or a selector together with -f")
        for source, doc in manifests.load_sourced(filename, recursive, verb="delete"):
            info = manifests.info_of(doc)
            targets.append((info, manifests.name_of(doc),
                            manifests.namespace_of(doc, info, st.namespace, st.explicit_namespace)))
            sources.append(source)
    elif not args:
        raise CliError("You must provide one or more resources by argument or filename.\n"
                       "Example resource specifications include:\n   '-f rsrc.yaml'\n"
                       "   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
    elif all("/" in a for a in args):
        for a in args:
            info, name = split_ref(a)
            targets.append((info, name, st.namespace if info.namespaced else None))
    elif any("/" in a for a in args):
        raise CliError("there is no need to specify a resource type as a separate argument "
                       "when passing arguments in resource/name form")
    else:
        info = resolve_kind(args[0])
        names = args[1:]
        if names and (selector or all_):
            raise CliError("name cannot be provided when a selector or --all is specified")
        if not names and not (selector or all_):
            raise CliError('resource(s) were provided, but no name was specified')
        if names:
            targets = [(info, n, st.namespace if info.namespaced else None) for n in names]
        else:
            ns = None if (all_namespaces or not info.namespaced) else st.namespace
            found = st.client.list_all(info.model, ns, label_selector=selector).items
            if not found:
                click.echo("No resources found", err=True)
                return
            targets = [(info, o.metadata.name or "", o.metadata.namespace if info.namespaced
                        else None) for o in found]

    failed = False
    deleted: list[tuple[ResourceInfo, str, str | None, str | None]] = []
    for i, (info, name, ns) in enumerate(targets):
        source = sources[i] if i < len(sources) else ""
        try:
            before: TypedObject | None = None
            if wait:
                before = st.client.get(info.model, name, ns)
            if mode == "none":
                st.client.delete(info.model, name, ns, propagation_policy=policy,
                                 grace_period_seconds=grace)
            else:
                _dry_delete(st, info, name, ns, mode, policy, grace)
        except NotFound as exc:
            if not ignore_not_found:
                click.echo(write_util.source_error(exc, "deleting", source, st.server), err=True)
                failed = True
            continue
        except ApiError as exc:
            click.echo(write_util.source_error(exc, "deleting", source, st.server), err=True)
            failed = True
            continue
        click.echo(kubectl_line(info, name, ns, "force deleted" if grace == 0 else "deleted",
                                mode))
        deleted.append((info, name, ns, before.metadata.uid if before else None))
    if wait:
        for info, name, ns, uid in deleted:
            if not wait_deleted(st, info, name, ns, uid, limit):
                click.echo(f"error: timed out waiting for the deletion of "
                           f"{display_name(info, name)}", err=True)
                failed = True
    if failed:
        raise SystemExit(1)


def _dry_delete(st: State, info: ResourceInfo, name: str, ns: str | None, mode: str,
                policy: str, grace: int | None) -> None:
    """``--dry-run``: client sends nothing (kubectl does not even read the object); server
    deletes with dryRun=All (the server checks everything and removes nothing)."""
    path = info.object_path(name, ns)
    if mode == "client":
        return
    body: dict[str, object] = {"kind": "DeleteOptions", "apiVersion": "v1",
                               "propagationPolicy": policy, "dryRun": ["All"]}
    if grace is not None:
        body["gracePeriodSeconds"] = grace
    st.client.request("DELETE", path, params={"dryRun": "All"}, json=body,
                      content_type="application/json")
