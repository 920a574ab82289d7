"""``minictl create serviceaccount NAME`` and ``minictl create token SERVICEACCOUNT``, as
kubectl's create_serviceaccount.go and create_token.go: the token is a TokenRequest on the
serviceaccounts/token subresource (--audience, --duration, --bound-object-kind/-name/-uid),
printed alone."""

from __future__ import annotations

import click

from api import resources
from api.models import ObjectMeta
from api.models.serviceaccount import ServiceAccount
from api.timeutil import parse_duration
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common

# boundObjectKindToAPIVersions
BOUND_KINDS = {"Node": "v1", "Pod": "v1", "Secret": "v1"}


@create_cmd.command("serviceaccount")
@click.argument("name")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_serviceaccount(name: str, output_: str | None, dry_run: str) -> None:
    """Create a service account NAME.

    \b
    Examples:
      minictl create serviceaccount my-service-account
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    sa = _send(st, resources.SERVICEACCOUNTS,
               ServiceAccount(metadata=ObjectMeta(name=name)), st.namespace, mode)
    _emit(resources.SERVICEACCOUNTS, sa, fmt, mode)


create_cmd.add_command(create_serviceaccount, "sa")


@create_cmd.command("token")
@click.argument("name")
@click.option("--audience", "audiences", multiple=True,
              help="Audience of the token (repeatable; default: the API server's).")
@click.option("--duration", default="0s",
              help="Requested lifetime (e.g. 10m, 1h); the server may cap it.")
@click.option("--bound-object-kind", default="",
              help="Kind of an object to bind the token to: Node, Pod or Secret.")
@click.option("--bound-object-name", default="", help="Name of the object to bind to.")
@click.option("--bound-object-uid", default="", help="UID of the object to bind to.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml or json.")
@common
def create_token(name: str, audiences: tuple[str, ...], duration: str, bound_object_kind: str,
                 bound_object_name: str, bound_object_uid: str, output_: str | None) -> None:
    """Request a service account token.

    \b
    Examples:
      minictl create token myapp
      minictl create token myapp --namespace myns --duration 10m --audience https://example.com
      minictl create token myapp --bound-object-kind Pod --bound-object-name mypod
    """
    try:
        seconds = parse_duration(duration)
    except ValueError:
        raise CliError(f'invalid argument "{duration}" for "--duration" flag') from None
    if seconds < 0:
        raise CliError("--duration must be greater than or equal to 0")
    if seconds != int(seconds):
        raise CliError("--duration cannot be expressed in units less than seconds")
    if any(not a for a in audiences):
        raise CliError("--audience must not be an empty string")
    if not bound_object_kind:
        if bound_object_name:
            raise CliError("--bound-object-name can only be set if --bound-object-kind is "
                           "provided")
        if bound_object_uid:
            raise CliError("--bound-object-uid can only be set if --bound-object-kind is "
                           "provided")
    else:
        if bound_object_kind not in BOUND_KINDS:
            raise CliError("supported --bound-object-kind values are "
                           f"{', '.join(sorted(BOUND_KINDS))}")
        if not bound_object_name:
            raise CliError("--bound-object-name is required if --bound-object-kind is "
                           "provided")
    fmt = output.check_output(output_, ("yaml", "json"))
    st = state()
    spec: dict[str, object] = {}
    if audiences:
        spec["audiences"] = list(audiences)
    if seconds:
        spec["expirationSeconds"] = int(seconds)
    if bound_object_kind:
        ref = {"kind": bound_object_kind, "apiVersion": BOUND_KINDS[bound_object_kind],
               "name": bound_object_name}
        if bound_object_uid:
            ref["uid"] = bound_object_uid
        spec["boundObjectRef"] = ref
    ns = st.namespace
    res = st.client.request(
        "POST", f"{resources.SERVICEACCOUNTS.object_path(name, ns)}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "metadata": {"name": name, "namespace": ns}, "spec": spec})
    if fmt in ("yaml", "json"):
        click.echo(output.dump_yaml(res) if fmt == "yaml" else output.dump_json(res), nl=False)
        return
    click.echo(str((res.get("status") or {}).get("token") or ""))
