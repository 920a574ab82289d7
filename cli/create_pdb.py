"""``minictl create poddisruptionbudget|pdb NAME --selector=... --min-available=N|N%`` (or
``--max-unavailable``), as kubectl's create_pdb.go: its checks and messages, the selector
as metav1.ParseToLabelSelector makes it."""

from __future__ import annotations

import re

import click

from api import resources
from api.labels import SelectorError, parse_selector, to_label_selector
from api.models import ObjectMeta
from api.models.policy import PodDisruptionBudget, PodDisruptionBudgetSpec
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common

_INT_OR_PERCENT = re.compile(r"^[0-9]+%?$")


def _int_or_string(value: str) -> int | str:
    """intstr.Parse: a number is an int, anything else a string."""
    try:
        return int(value)
    except ValueError:
        return value


@create_cmd.command("poddisruptionbudget")
@click.argument("name")
@click.option("--selector", default="",
              help="A label selector to use for this budget. Only equality-based selector "
                   "requirements are supported.")
@click.option("--min-available", default="",
              help="The minimum number or percentage of available pods this budget requires.")
@click.option("--max-unavailable", default="",
              help="The maximum number or percentage of unavailable pods this budget "
                   "requires.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_pdb(name: str, selector: str, min_available: str, max_unavailable: str,
               output_: str | None, dry_run: str) -> None:
    """Create a pod disruption budget NAME.

    \b
    Examples:
      minictl create pdb my-pdb --selector=app=rails --min-available=1
      minictl create pdb my-pdb --selector=app=nginx --min-available=50%
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    if not selector:
        raise CliError("a selector must be specified")
    if not max_unavailable and not min_available:
        raise CliError("one of min-available or max-unavailable must be specified")
    if max_unavailable and min_available:
        raise CliError("min-available and max-unavailable cannot be both specified")
    if min_available and not _INT_OR_PERCENT.match(min_available):
        raise CliError("invalid format specified for min-available")
    if max_unavailable and not _INT_OR_PERCENT.match(max_unavailable):
        raise CliError("invalid format specified for max-unavailable")
    try:
        sel = to_label_selector(parse_selector(selector))
    except SelectorError as e:
        raise CliError(str(e)) from None
    spec = PodDisruptionBudgetSpec(selector=sel)
    if min_available:
        spec.min_available = _int_or_string(min_available)
    else:
        spec.max_unavailable = _int_or_string(max_unavailable)
    pdb = PodDisruptionBudget(metadata=ObjectMeta(name=name), spec=spec)
    created = _send(st, resources.PODDISRUPTIONBUDGETS, pdb, st.namespace, mode)
    _emit(resources.PODDISRUPTIONBUDGETS, created, fmt, mode)


create_cmd.add_command(create_pdb, "pdb")
