"""``minictl scale`` and ``minictl set image``."""

from __future__ import annotations

import click

from api import resources
from api.models import Deployment, Pod, ReplicaSet
from api.models.apps import StatefulSet
from api.models.core import PodSpec, TypedObject
from api.resources import ResourceInfo
from cli import output, write_util
from cli.context import State, object_refs, state
from cli.errors import CliError
from cli.options import common
from client.errors import Conflict

SCALABLE = (resources.DEPLOYMENTS, resources.REPLICASETS, resources.REPLICATIONCONTROLLERS,
            resources.STATEFULSETS)


@click.command("scale")
@click.argument("args", nargs=-1, required=True)
@click.option("--replicas", type=int, required=True, help="The new number of replicas.")
@click.option("--current-replicas", type=int, default=-1,
              help="Only scale if the current number of replicas is this.")
@write_util.dry_run_option
@common
def scale_cmd(args: tuple[str, ...], replicas: int, current_replicas: int,
              dry_run: str) -> None:
    """Set the number of replicas of a deployment or replica set.

    \b
    Examples:
      minictl scale deployment nginx --replicas=5
      minictl scale deploy/nginx --replicas=1
    """
    st = state()
    mode = write_util.parse_dry_run(dry_run)
    if replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than "
                       "or equal to 0")
    for info, name in object_refs(args):
        if info not in SCALABLE:
            raise CliError(f"cannot scale {info.plural}: only deployments, replicasets, "
                           "replicationcontrollers and statefulsets have a scale subresource")
        if current_replicas >= 0:
            cur = st.client.get_scale(info.model, name, st.namespace)
            if (cur.spec.replicas or 0) != current_replicas:
                raise CliError(f"Expected replicas to be {current_replicas}, was "
                               f"{cur.spec.replicas or 0}")
        t = write_util.Target(info, name, st.namespace)
        if mode == "client":
            write_util.get(st, t)  # kubectl reads the object; a missing one is an error
        else:
            write_util.patch(st, t, {"spec": {"replicas": replicas}}, "merge", dry_run=mode,
                             subresource="scale")
        output.done(info, name, "scaled" + write_util.dry_suffix(mode))


def _pod_spec(obj: TypedObject) -> PodSpec:
    if isinstance(obj, Deployment):
        return obj.spec.template.spec
    if isinstance(obj, ReplicaSet) and obj.spec.template is not None:
        return obj.spec.template.spec
    if isinstance(obj, StatefulSet):
        return obj.spec.template.spec
    if isinstance(obj, Pod):
        return obj.spec
    raise CliError(f"cannot set images of a {obj.kind}")


def set_images(st: State, info: ResourceInfo, name: str, images: dict[str, str]) -> bool:
    """Read, change, write back; retried on Conflict. False when nothing had to change."""
    for _ in range(5):
        obj = st.client.get(info.model, name, st.namespace)
        spec = _pod_spec(obj)
        names = [c.name for c in spec.containers]
        for cname in images:
            if cname != "*" and cname not in names:
                raise CliError(f'unable to find container named "{cname}"')
        changed = False
        for c in spec.containers:
            new = images.get(c.name, images.get("*"))
            if new is not None and c.image != new:
                c.image = new
                changed = True
        if not changed:
            return False
        try:
            st.client.update(obj)
            return True
        except Conflict:
            continue
    raise CliError(f"could not update {info.plural}/{name}: it kept changing (conflicts)")


@click.group("set")
def set_cmd() -> None:
    """Change a field of existing resources."""


@set_cmd.command("image")
@click.argument("target")
@click.argument("images", nargs=-1, required=True)
@common
def set_image_cmd(target: str, images: tuple[str, ...]) -> None:
    """Set the image of containers: TARGET CONTAINER=IMAGE... (``*`` means every container).

    \b
    Examples:
      minictl set image deployment/nginx nginx=nginx:1.22
      minictl set image deploy/web '*=busybox'
    """
    st = state()
    refs = object_refs((target,)) if "/" in target else None
    pairs = list(images)
    if refs is None:
        # `set image deployment nginx nginx=...`: the name is the first of the rest.
        if not pairs or "=" in pairs[0]:
            raise CliError(f"you must specify the name of the {target}")
        refs = object_refs((target, pairs.pop(0)))
    wanted: dict[str, str] = {}
    for p in pairs:
        cname, sep, image = p.partition("=")
        if not sep or not cname or not image:
            raise CliError(f"invalid image update: {p} (expected CONTAINER=IMAGE)")
        wanted[cname] = image
    if not wanted:
        raise CliError("at least one image update is required")
    for info, name in refs:
        if info not in (resources.DEPLOYMENTS, resources.REPLICASETS, resources.PODS,
                        resources.STATEFULSETS):
            raise CliError(f"cannot set images of {info.plural}")
        set_images(st, info, name, wanted)
        output.done(info, name, "image updated")
