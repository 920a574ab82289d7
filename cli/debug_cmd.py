"""``minictl debug`` and ``minictl attach``: kubectl debug's three ways in, with its flags,
profiles and messages (k8s.io/kubectl pkg/cmd/debug):

- ``minictl debug POD --image=IMAGE``: an ephemeral container added to the running pod
  (pods/{name}/ephemeralcontainers), in the pod's namespaces; ``--target=CONTAINER``
  shares that container's processes.
- ``minictl debug POD --copy-to=NAME``: a copy of the pod with a debug container added
  (or a container changed), sharing its process namespace.
- ``minictl debug node/NAME --image=IMAGE``: a pod on that node in the host's network,
  PID and IPC namespaces with the node's root at /host.

With ``-i`` (``--attach``) minictl waits for the container to run and attaches to it, as
``minictl attach`` does; one that already ended shows its log instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click
import yaml

from api import resources
from api.models import Node
from api.resources import ResourceInfo
from cli import manifests
from cli.context import State, split_ref, state
from cli.errors import CliError
from cli.exec_cmd import _raw, _sink, _sizes, _stdin_chunks
from cli.options import common, parse_bool
from client.errors import ApiError, NotFound
from client.exec import attach_pod

JSON = dict[str, Any]

PROFILES = ("legacy", "general", "baseline", "restricted", "netadmin", "sysadmin")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand.String's alphabet
WAIT_SECONDS = 300.0  # how long an attach waits for the container to run

# distribution/reference's ReferenceRegexp: [domain/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = (r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
           r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])"
           r"(?::[0-9]+)?")
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?$")
_INVALID_REFERENCE = "invalid reference format"


def _suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))


def _valid_image(image: str) -> bool:
    return bool(_REFERENCE.match(image))


def _string_map(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """pflag's StringToString: ``a=1,b=2``, repeatable."""
    out: dict[str, str] = {}
    for v in values:
        for item in v.split(","):
            key, sep, val = item.partition("=")
            if not sep:
                raise click.UsageError(f'invalid argument "{v}" for "--{flag}" flag: {item} '
                                       "must be formatted as key=value")
            out[key] = val
    return out


def _bool(value: str | None, default: bool, flag: str) -> bool:
    return default if value is None else parse_bool(value, f"--{flag}")


# ---- profiles (pkg/cmd/debug/profiles.go) ------------------------------------------


def _containers(spec: JSON, all_kinds: bool = True) -> list[JSON]:
    keys = ("initContainers", "containers", "ephemeralContainers") if all_kinds \
        else ("initContainers", "containers")
    return [c for k in keys for c in spec.get(k) or [] if isinstance(c, dict)]


def _named(spec: JSON, name: str, all_kinds: bool = True) -> JSON | None:
    return next((c for c in _containers(spec, all_kinds) if c.get("name") == name), None)


def _security(c: JSON) -> JSON:
    sc = c.get("securityContext")
    if not isinstance(sc, dict):
        sc = c["securityContext"] = {}
    return sc


def _add_capability(c: JSON, cap: str) -> None:
    caps = _security(c).setdefault("capabilities", {})
    caps["add"] = [*(caps.get("add") or []), cap]


def _mount_root(spec: JSON, name: str) -> None:
    spec["volumes"] = [*(spec.get("volumes") or []),
                       {"name": "host-root", "hostPath": {"path": "/"}}]
    c = _named(spec, name, all_kinds=False)  # podutils.Containers: init and regular
    if c is not None:
        c["volumeMounts"] = [*(c.get("volumeMounts") or []),
                             {"mountPath": "/host", "name": "host-root"}]


def _host_namespaces(spec: JSON) -> None:
    spec["hostNetwork"] = spec["hostPID"] = spec["hostIPC"] = True


def _share_processes(spec: JSON) -> None:
    spec.setdefault("shareProcessNamespace", True)


def _strip_copy(pod: JSON, keep: dict[str, bool]) -> None:
    """KeepFlags: what a copy keeps of the original."""
    md, spec = pod["metadata"], pod["spec"]
    if not keep["labels"]:
        md.pop("labels", None)
    if not keep["annotations"]:
        md.pop("annotations", None)
    for c in spec.get("containers") or []:
        for flag, probe in (("liveness", "livenessProbe"), ("readiness", "readinessProbe"),
                            ("startup", "startupProbe")):
            if not keep[flag]:
                c.pop(probe, None)
    if not keep["init_containers"]:
        spec.pop("initContainers", None)


def apply_profile(profile: str, style: str, pod: JSON, name: str,
                  keep: dict[str, bool]) -> None:
    """The profile's changes to ``pod`` (and its container ``name``) for a debugging
    ``style``: ephemeral, copy or node."""
    spec = pod["spec"]
    c = _named(spec, name)
    if profile == "legacy":
        if style == "node":
            _mount_root(spec, name)
            _host_namespaces(spec)
        elif style == "copy":
            pod["metadata"].pop("labels", None)
        return
    if profile == "general":
        if style == "node":
            _mount_root(spec, name)
            if c is not None:
                c.pop("securityContext", None)
            _host_namespaces(spec)
        else:
            if style == "copy":
                _strip_copy(pod, keep)
            if c is not None:
                _add_capability(c, "SYS_PTRACE")
            if style == "copy":
                _share_processes(spec)
        return
    if profile in ("baseline", "restricted") and c is not None:
        c.pop("securityContext", None)
        if profile == "restricted":
            sc = _security(c)
            sc["runAsNonRoot"] = True
            sc["capabilities"] = {"drop": ["ALL"]}
            sc["allowPrivilegeEscalation"] = False
            sc["seccompProfile"] = {"type": "RuntimeDefault"}
    elif profile == "netadmin" and c is not None:
        _add_capability(c, "NET_ADMIN")
        _add_capability(c, "NET_RAW")
    elif profile == "sysadmin" and c is not None:
        _security(c)["privileged"] = True
    if style == "copy":
        _strip_copy(pod, keep)
        _share_processes(spec)
    elif style == "node" and profile in ("netadmin", "sysadmin"):
        _host_namespaces(spec)
        if profile == "sysadmin":
            _mount_root(spec, name)


# ---- the command -------------------------------------------------------------------


class _DebugCommand(click.Command):
    """Everything after ``--`` is the container's command (cobra's ArgsLenAtDash)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["debug.command"] = args[i + 1:]
            args = args[:i]
        return super().parse_args(ctx, args)


F = TypeVar("F", bound=Callable[..., Any])


def _optional_bool(name: str, help_: str) -> Callable[[F], F]:
    return click.option(name, is_flag=False, flag_value="true", default=None, metavar="BOOL",
                        help=help_)


class Options:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    image: str
    container: str | None
    copy_to: str | None
    target: str | None
    profile: str
    pull_policy: str
    interactive: bool
    tty: bool
    attach: bool
    quiet: bool
    args: list[str]
    args_only: bool
    env: list[JSON]
    set_images: dict[str, str]
    same_node: bool
    replace: bool
    share_processes: bool | None
    keep: dict[str, bool]
    custom: JSON | None


def _validate(o: Options, targets: tuple[str, ...], attach_changed: bool,
              filenames: tuple[str, ...] = ()) -> None:
    """DebugOptions.Validate, in its order and words."""
    if o.attach and attach_changed and not o.image and not o.container:
        raise CliError("you must specify --container or create a new container using --image "
                       "in order to attach.")
    if o.copy_to:
        if not o.image and not o.set_images and not o.args:
            raise CliError("you must specify --image, --set-image or command arguments.")
        if o.args and not o.container and not o.image:
            raise CliError("you must specify an existing container or a new image when "
                           "specifying args.")
    else:
        if o.replace:
            raise CliError("--replace may only be used with --copy-to.")
        if o.same_node:
            raise CliError("--same-node may only be used with --copy-to.")
        if o.set_images:
            raise CliError("--set-image may only be used with --copy-to.")
        if not o.image:
            raise CliError("you must specify --image when not using --copy-to.")
    if o.image and not _valid_image(o.image):
        raise CliError(f'invalid image name "{o.image}": {_INVALID_REFERENCE}')
    if not targets and not filenames:
        raise CliError("NAME or filename is required for debug")
    if o.pull_policy not in ("Always", "IfNotPresent", "Never", ""):
        raise CliError(f"invalid image pull policy: {o.pull_policy}")
    for name, image in o.set_images.items():
        if not _valid_image(image):
            raise CliError(f'invalid image name "{image}" for container "{name}": '
                           f"{_INVALID_REFERENCE}")
    if o.target:
        if o.copy_to:
            raise CliError("--target is incompatible with --copy-to. Use --share-processes "
                           "instead.")
        if not o.quiet:
            click.echo(f'Targeting container "{o.target}". If you don\'t see processes from '
                       "this container it may be because the container runtime doesn't "
                       "support this feature.")
    if o.tty and not o.interactive:
        raise CliError("-i/--stdin is required for containers with -t/--tty=true")
    if o.custom is not None:
        c = o.custom
        if c.get("name") or c.get("command") or c.get("image") or c.get("lifecycle") \
                or c.get("volumeDevices"):
            raise CliError("name, command, image, lifecycle and volume devices are not "
                           "modifiable via custom profile")
    if o.profile == "legacy":
        click.echo('--profile=legacy is deprecated and planned to be removed in v1.39. It is '
                   'recommended to specify other profile, for example "--profile=general".',
                   err=True)


def _debug_name(o: Options, spec: JSON) -> str:
    """computeDebugContainerName: -c, else debugger-<5 random> not used in the pod."""
    if o.container:
        return o.container
    taken = {c.get("name") for c in _containers(spec)}
    name = ""
    while not name or name in taken:
        name = f"debugger-{_suffix()}"
    if not o.quiet:
        click.echo(f"Defaulting debug container name to {name}.")
    return name


def _set_command(o: Options, c: JSON) -> None:
    if o.args:
        c["args" if o.args_only else "command"] = list(o.args)


def _apply_custom(o: Options, c: JSON | None) -> None:
    """--custom: a partial container merged over the profile's (strategic merge)."""
    if o.custom is None or c is None:
        return
    for k, v in o.custom.items():
        if isinstance(v, dict) and isinstance(c.get(k), dict):
            c[k] = {**c[k], **v}
        else:
            c[k] = v


def _warn_non_root(c: JSON | None, pod: JSON) -> None:
    """displayWarning: capabilities a non-root pod user may not get."""
    if c is None:
        return
    run_as = ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsUser")
    if run_as in (None, 0):
        return
    sc = c.get("securityContext")
    if not isinstance(sc, dict) or sc.get("runAsUser") == 0:
        return
    if not sc.get("privileged") and not (sc.get("capabilities") or {}).get("add"):
        return
    click.echo('Warning: Non-root user is configured for the entire target Pod, and some '
               'capabilities granted by debug profile may not work. Please consider using '
               '"--custom" with a custom profile that specifies "securityContext.runAsUser: '
               '0".', err=True)


def _debug_container(o: Options, name: str, target: str | None = None) -> JSON:
    """The debugging container kubectl builds for an ephemeral container or a node's pod:
    the image, env, pull policy, stdin/tty, the target's process namespace, the command."""
    c: JSON = {"name": name, "image": o.image, "terminationMessagePolicy": "File"}
    if o.env:
        c["env"] = o.env
    if o.pull_policy:
        c["imagePullPolicy"] = o.pull_policy
    if o.interactive:
        c["stdin"] = True
    if o.tty:
        c["tty"] = True
    if target:
        c["targetContainerName"] = target
    _set_command(o, c)
    return c


def _ephemeral(st: State, o: Options, pod: JSON) -> tuple[JSON, str]:
    name = _debug_name(o, pod["spec"])
    ec = _debug_container(o, name, o.target)
    work = copy.deepcopy(pod)
    work["spec"]["ephemeralContainers"] = [*(work["spec"].get("ephemeralContainers") or []), ec]
    apply_profile(o.profile, "ephemeral", work, name, o.keep)
    ec = work["spec"]["ephemeralContainers"][-1]
    _apply_custom(o, ec)
    _warn_non_root(ec, pod)
    md = pod["metadata"]
    try:
        out = st.client.request(
            "PATCH", f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/"
                     "ephemeralcontainers",
            json={"spec": {"ephemeralContainers": [ec]}},
            content_type="application/strategic-merge-patch+json")
    except NotFound as e:
        if e.status.details is None or not e.status.details.name:
            raise CliError("ephemeral containers are disabled for this cluster (error from "
                           f'server: "{e.message}")') from None
        raise
    return out, name


def _copy(st: State, o: Options, pod: JSON) -> tuple[JSON, str]:
    md = pod["metadata"]
    spec = copy.deepcopy(pod["spec"])
    spec.pop("ephemeralContainers", None)
    if o.share_processes is not None:
        spec["shareProcessNamespace"] = o.share_processes
    if not o.same_node:
        spec.pop("nodeName", None)
    new: JSON = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {k: v for k, v in (("name", o.copy_to),
                                                ("namespace", md.get("namespace")),
                                                ("annotations", md.get("annotations")),
                                                ("labels", md.get("labels"))) if v},
                 "spec": spec}
    for c in spec.get("containers") or []:
        override = o.set_images.get(c.get("name"), o.set_images.get("*"))
        if override:
            c["image"] = override
    name = o.container or ""
    c = _named(spec, name, all_kinds=False) if name else None
    if c is None:
        if not o.image:
            if o.set_images:
                return _create_copy(st, o, new, pod, None), ""
            raise CliError("you must specify image when creating new container")
        name = name or _debug_name(o, spec)
        c = {"name": name, "terminationMessagePolicy": "File"}
        spec["containers"] = [*(spec.get("containers") or []), c]
    if o.args:
        if o.args_only:
            c["args"] = list(o.args)
        else:
            c["command"] = list(o.args)
            c.pop("args", None)
    if o.env:
        c["env"] = o.env
    if o.image:
        c["image"] = o.image
    if o.pull_policy:
        c["imagePullPolicy"] = o.pull_policy
    c["stdin"] = o.interactive
    c["tty"] = o.tty
    apply_profile(o.profile, "copy", new, name, o.keep)
    _apply_custom(o, _named(spec, name, all_kinds=False))
    return _create_copy(st, o, new, pod, _named(spec, name, all_kinds=False)), name


def _create_copy(st: State, o: Options, new: JSON, pod: JSON, c: JSON | None) -> JSON:
    _warn_non_root(c, new)
    md = pod["metadata"]
    out = st.client.request("POST", f"/api/v1/namespaces/{md['namespace']}/pods", json=new)
    if o.replace:
        st.client.request("DELETE", f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}",
                          json={"kind": "DeleteOptions", "apiVersion": "v1",
                                "gracePeriodSeconds": 0})
    return dict(out)


def _node(st: State, o: Options, node: str) -> tuple[JSON, str]:
    st.client.get(Node, node)
    cn = o.container or "debugger"
    pn = f"node-debugger-{node}-{_suffix()}"
    if not o.quiet:
        click.echo(f"Creating debugging pod {pn} with container {cn} on node {node}.")
    c = _debug_container(o, cn)
    pod: JSON = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": pn,
                              "labels": {"app.kubernetes.io/managed-by": "kubectl-debug"}},
                 "spec": {"containers": [c], "nodeName": node, "restartPolicy": "Never",
                          "tolerations": [{"operator": "Exists"}]}}
    apply_profile(o.profile, "node", pod, cn, o.keep)
    _apply_custom(o, _named(pod["spec"], cn))
    out = st.client.request("POST", f"/api/v1/namespaces/{st.namespace}/pods", json=pod)
    return dict(out), cn


# ---- attach ---------------------------------------------------------------------------


def _status_of(pod: JSON, name: str) -> JSON | None:
    st = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for s in st.get(key) or []:
            if isinstance(s, dict) and s.get("name") == name:
                return s
    return None


def _wait_for_container(st: State, o: Options, ns: str, pod: str, name: str) -> JSON:
    """waitForContainer: the pod once the container runs or has ended; the waiting
    messages on the way, as warnings."""
    deadline = time.monotonic() + WAIT_SECONDS
    shown: set[str] = set()
    path = f"/api/v1/namespaces/{ns}/pods/{pod}"
    while time.monotonic() < deadline:
        try:
            got = dict(st.client.request("GET", path))
        except NotFound:
            raise CliError(f'pods "{pod}" not found') from None
        s = _status_of(got, name)
        if s is not None:
            state_ = s.get("state") or {}
            if state_.get("running") or state_.get("terminated"):
                return got
            msg = (state_.get("waiting") or {}).get("message")
            if msg and not o.quiet and msg not in shown:
                shown.add(msg)
                click.echo(f"Warning: container {name}: {msg}", err=True)
        time.sleep(0.5)
    raise CliError(f"timed out waiting for container {name} of pod {pod} to run")


def _logs(st: State, ns: str, pod: str, name: str) -> None:
    sys.stdout.write(st.client.pod_logs(pod, ns, container=name))
    sys.stdout.flush()


def attach_to(st: State, ns: str, pod: JSON, name: str, interactive: bool, tty: bool,
              quiet: bool, command: str = "minictl attach") -> int:
    """kubectl attach's run: stdin and a terminal as asked; the exit code of the process."""
    in_fd = sys.stdin.fileno() if interactive else -1
    if tty and not (interactive and sys.stdin.isatty()):
        click.echo("Unable to use a TTY - input is not a terminal or the right kind of file",
                   err=True)
        tty = False
    if not quiet:
        click.echo("All commands and output from this session will be recorded in container "
                   "logs, including credentials and sensitive information passed through the "
                   "command prompt.", err=True)
        click.echo("If you don't see a command prompt, try pressing enter.", err=True)
    cfg = st.config
    pname = (pod.get("metadata") or {}).get("name") or ""

    async def run() -> int:
        return await attach_pod(
            cfg.server, ns, pname, container=name, tty=tty, token=cfg.token,
            ssl_context=st.ssl_context(), stdin=_stdin_chunks(in_fd) if interactive else None,
            sizes=_sizes(in_fd) if tty else None,
            stdout=_sink(sys.stdout.buffer), stderr=_sink(sys.stderr.buffer))

    with _raw(in_fd) if tty else contextlib.nullcontext():
        code = asyncio.run(run())
    if not quiet and interactive and tty:  # reattachMessage
        pns = (pod.get("metadata") or {}).get("namespace") or ns
        spec = pod.get("spec") or {}
        if any(c.get("name") == name for c in spec.get("ephemeralContainers") or []):
            click.echo("Session ended, the ephemeral container will not be restarted but may "
                       f"be reattached using '{command} {pname} -c {name} -n {pns} -i -t' if "
                       "it is still running")
        else:
            click.echo(f"Session ended, resume using '{command} {pname} -c {name} -n {pns} -i "
                       "-t' command")
    return code


def _attach_debug(st: State, o: Options, pod: JSON, name: str) -> int:
    """handleAttachPod: wait, attach; a container that ended, or an attach that failed,
    shows the log instead."""
    md = pod.get("metadata") or {}
    ns, pname = str(md.get("namespace") or st.namespace), str(md.get("name"))
    got = _wait_for_container(st, o, ns, pname, name)
    s = _status_of(got, name) or {}
    if (s.get("state") or {}).get("terminated"):
        _logs(st, ns, pname, name)
        return 0
    try:
        attach_to(st, ns, got, name, o.interactive, o.tty, o.quiet)
    except ApiError as e:
        click.echo(f"warning: couldn't attach to pod/{pname}, falling back to streaming "
                   f"logs: {e.message}", err=True)
        _logs(st, ns, pname, name)
    return 0


def _load_custom(path: str | None) -> JSON | None:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise CliError(f"must pass a container spec json file for custom profile: {e}") \
            from None
    try:
        data = json.loads(raw)
    except ValueError:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise CliError(f"{path} does not contain a valid container spec: {e}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} does not contain a valid container spec: not an object")
    return data


@click.command("debug", cls=_DebugCommand)
@click.argument("targets", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True, metavar="FILE",
              help="identifying the resource to debug")
@click.option("--arguments-only", is_flag=True,
              help="If specified, everything after -- will be passed to the new container as "
                   "Args instead of Command.")
@_optional_bool("--attach", "If true, wait for the container to start running, and then "
                "attach as if 'minictl attach ...' were called. Default false, unless "
                "'-i/--stdin' is set, in which case the default is true.")
@click.option("-c", "--container", help="Container name to use for debug container.")
@click.option("--copy-to", help="Create a copy of the target Pod with this name.")
@click.option("--replace", is_flag=True, help="When used with '--copy-to', delete the "
                                              "original Pod.")
@click.option("--env", multiple=True, metavar="KEY=VALUE",
              help="Environment variables to set in the container.")
@click.option("--image", default="", help="Container image to use for debug container.")
@click.option("--keep-labels", is_flag=True, help="If true, keep the original pod labels. "
              "(This flag only works when used with '--copy-to')")
@click.option("--keep-annotations", is_flag=True, help="If true, keep the original pod "
              "annotations. (This flag only works when used with '--copy-to')")
@click.option("--keep-liveness", is_flag=True, help="If true, keep the original pod liveness "
              "probes. (This flag only works when used with '--copy-to')")
@click.option("--keep-readiness", is_flag=True, help="If true, keep the original pod readiness "
              "probes. (This flag only works when used with '--copy-to')")
@click.option("--keep-startup", is_flag=True, help="If true, keep the original startup probes. "
              "(This flag only works when used with '--copy-to')")
@_optional_bool("--keep-init-containers", "Run the init containers for the pod. Defaults to "
                "true. (This flag only works when used with '--copy-to')")
@click.option("--set-image", multiple=True, metavar="NAME=IMAGE",
              help="When used with '--copy-to', a list of name=image pairs for changing "
                   "container images, similar to how 'kubectl set image' works.")
@click.option("--image-pull-policy", default="",
              help="The image pull policy for the container. If left empty, this value will "
                   "not be specified by the client and defaulted by the server.")
@click.option("-i", "--stdin", "interactive", is_flag=True,
              help="Keep stdin open on the container(s) in the pod, even if nothing is "
                   "attached.")
@click.option("-q", "--quiet", is_flag=True, help="If true, suppress informational messages.")
@click.option("--same-node", is_flag=True, help="When used with '--copy-to', schedule the copy "
                                                "of target Pod on the same node.")
@_optional_bool("--share-processes", "When used with '--copy-to', enable process namespace "
                "sharing in the copy.")
@click.option("--target", help="When using an ephemeral container, target processes in this "
                               "container name.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a TTY for the debugging container.")
@click.option("--profile", default="general", help='Options are "general", "baseline", '
              '"restricted", "netadmin" or "sysadmin". Defaults to "general"')
@click.option("--custom", help="Path to a JSON or YAML file containing a partial container "
                               "spec to customize built-in debug profiles.")
@common
def debug_cmd(targets: tuple[str, ...], filenames: tuple[str, ...], arguments_only: bool, attach: str | None,
              container: str | None, copy_to: str | None, replace: bool, env: tuple[str, ...],
              image: str, keep_labels: bool, keep_annotations: bool, keep_liveness: bool,
              keep_readiness: bool, keep_startup: bool, keep_init_containers: str | None,
              set_image: tuple[str, ...], image_pull_policy: str, interactive: bool,
              quiet: bool, same_node: bool, share_processes: str | None, target: str | None,
              tty: bool, profile: str, custom: str | None) -> int:
    """Create debugging sessions for troubleshooting workloads and nodes.

    \b
    Examples:
      # An interactive debugging session in pod mypod, attached at once
      minictl debug mypod -it --image=busybox
      # ... that sees the processes of its container "app"
      minictl debug mypod -it --image=busybox --target=app
      # A copy of mypod with a debug container, sharing its processes
      minictl debug mypod -it --image=busybox --copy-to=my-debugger
      # A copy of mypod with every container's image changed
      minictl debug mypod --copy-to=my-debugger --set-image=*=busybox
      # A session on a node: its host namespaces, its root filesystem at /host
      minictl debug node/mynode -it --image=busybox
    """
    ctx = click.get_current_context()
    if profile not in PROFILES:
        raise CliError(f"unknown profile: {profile}")
    o = Options(
        image=image, container=container, copy_to=copy_to, target=target, profile=profile,
        pull_policy=image_pull_policy, interactive=interactive, tty=tty,
        attach=_bool(attach, interactive, "attach"), quiet=quiet,
        args=list(ctx.meta.get("debug.command") or []), args_only=arguments_only,
        env=[{"name": k, "value": v} for k, v in _string_map(env, "env").items()],
        set_images=_string_map(set_image, "set-image"), same_node=same_node, replace=replace,
        share_processes=None if share_processes is None
        else _bool(share_processes, True, "share-processes"),
        keep={"labels": keep_labels, "annotations": keep_annotations,
              "liveness": keep_liveness, "readiness": keep_readiness, "startup": keep_startup,
              "init_containers": _bool(keep_init_containers, True, "keep-init-containers")},
        custom=_load_custom(custom))
    _validate(o, targets, attach is not None, filenames)
    st = state()
    refs: list[tuple[ResourceInfo, str, str]] = []
    if filenames:
        for doc in manifests.load(filenames):
            info = manifests.info_of(doc)
            refs.append((info, manifests.name_of(doc), manifests.namespace_of(
                doc, info, st.namespace, st.explicit_namespace) or st.namespace))
    for ref in targets:
        info, name = split_ref(ref) if "/" in ref else (resources.PODS, ref)
        refs.append((info, name, st.namespace))
    for info, name, ns in refs:
        if info is resources.NODES:
            created, cname = _node(st, o, name)
        elif info is resources.PODS:
            pod = dict(st.client.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}"))
            if o.copy_to:
                created, cname = _copy(st, o, pod)
            else:
                created, cname = _ephemeral(st, o, pod)
        else:
            st.client.get(info.model, name, ns if info.namespaced else None)
            # GroupVersionKind.String(): "/v1, Kind=ConfigMap" for the core group
            raise CliError(f'"{info.group}/{info.version}, Kind={info.kind}" not supported '
                           "by debug")
        if o.attach and cname:
            _attach_debug(st, o, created, cname)
    return 0


@click.command("attach")
@click.argument("pod")
@click.option("-c", "--container", help="Container name (default: the pod's first).")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", is_flag=True, help="Stdin is a TTY.")
@click.option("-q", "--quiet", is_flag=True, help="Only print output from the remote session.")
@common
def attach_cmd(pod: str, container: str | None, interactive: bool, tty: bool,
               quiet: bool) -> int:
    """Attach to a process that is already running inside an existing container.

    \b
    Examples:
      minictl attach mypod
      minictl attach mypod -c debugger-x2b4z -i -t
    """
    st = state()
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod
    got = dict(st.client.request("GET", f"/api/v1/namespaces/{st.namespace}/pods/{name}"))
    spec = got.get("spec") or {}
    phase = (got.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise CliError(f"cannot attach a container in a completed pod; current phase is "
                       f"{phase}")
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    if container is None:
        container = names[0] if names else ""
        if len(names) > 1 and not quiet:
            click.echo(f'Defaulted container "{container}" out of: {", ".join(names)}',
                       err=True)
    elif _named(spec, container) is None:
        raise CliError(f"container {container} not found in pod {name}")
    return attach_to(st, st.namespace, got, container, interactive, tty, quiet)
