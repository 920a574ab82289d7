"""``minictl create quota``, as kubectl's: ``--hard=pods=5,requests.cpu=1`` and
``--scopes=BestEffort,NotTerminating`` make a ResourceQuota's spec."""

from __future__ import annotations

import click

from api import resources
from api.models import ObjectMeta
from api.models.quota import ResourceQuota, ResourceQuotaSpec
from api.quantity import QuantityError, parse_quantity
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common


def _hard(spec: str) -> dict[str, str]:
    """populateResourceListV1: ``name=quantity`` pairs, comma separated."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise CliError(f"invalid argument {part!r}: expected name=quantity")
        try:
            parse_quantity(value)
        except (QuantityError, ValueError):
            raise CliError(f"quantities must match the regular expression "
                           f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' ({value})") from None
        out[name] = value
    return out


@create_cmd.command("quota")
@click.argument("name")
@click.option("--hard", default="", metavar="NAME=QUANTITY,...",
              help="The hard limits: resource names and quantities, comma separated.")
@click.option("--scopes", default="", metavar="SCOPE,...",
              help="The quota's scopes, comma separated (BestEffort, NotTerminating...).")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_quota(name: str, hard: str, scopes: str, output_: str | None, dry_run: str) -> None:
    """Create a ResourceQuota NAME.

    \b
    Examples:
      minictl create quota my-quota --hard=cpu=1,memory=1G,pods=2,services=3
      minictl create quota best-effort --hard=pods=100 --scopes=BestEffort
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    dry = mode == "client"
    scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
    quota = ResourceQuota(
        metadata=ObjectMeta(name=name, namespace=None if dry else st.namespace),
        spec=ResourceQuotaSpec(hard=_hard(hard) or None, scopes=scope_list or None))
    quota = _send(st, resources.RESOURCEQUOTAS, quota, st.namespace, mode)
    _emit(resources.RESOURCEQUOTAS, quota, fmt, mode)
