"""``minictl wait``: until objects meet a condition, a JSONPath value, or are deleted.

Driven by a watch of each object (``fieldSelector=metadata.name=NAME`` from the
resourceVersion it was read at), so the answer comes with the event, not with a poll.
Messages and exit codes are kubectl's: ``pod/x condition met``, ``timed out waiting for
the condition on pods/x``, ``no matching resources found``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from cli import jsonpath, output, write_util
from cli.context import State, state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError, Gone, NotFound

Obj = dict[str, Any]
WEEK = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Condition:
    kind: str  # condition | jsonpath | delete | create
    name: str = ""
    value: str | None = None
    template: jsonpath.Template | None = None

    def met(self, obj: Obj) -> bool:
        if self.kind == "condition":
            for c in (obj.get("status") or {}).get("conditions") or []:
                if not isinstance(c, dict) or str(c.get("type", "")).lower() != self.name:
                    continue
                og = c.get("observedGeneration")
                gen = (obj.get("metadata") or {}).get("generation")
                if og is not None and gen is not None and og < gen:
                    return False
                return str(c.get("status", "")).lower() == (self.value or "true").lower()
            return False
        if self.kind == "jsonpath":
            assert self.template is not None
            try:
                results = jsonpath.find_results(self.template, obj, allow_missing=True)
            except jsonpath.JsonPathError:
                return False
            values = [v for r in results for v in r]
            if self.value is None:
                return bool(values)
            if len(values) != 1 or isinstance(values[0], dict | list):
                return False
            return jsonpath.go_print(values[0]) == self.value
        return self.kind == "create"


def parse_for(text: str | None) -> Condition:
    if text is None:
        raise CliError("unrecognized condition: []")
    low = text.lower()
    if low == "delete":
        return Condition("delete")
    if low == "create":
        return Condition("create")
    if low.startswith("condition="):
        rest = text[len("condition="):]
        name, sep, value = rest.partition("=")
        if not name:
            raise CliError(f'unrecognized condition: "{text}"')
        return Condition("condition", name.lower(), value if sep else "true")
    if low.startswith("jsonpath="):
        rest = text[len("jsonpath="):]
        expr, expected = _split_jsonpath(rest)
        if not expr:
            raise CliError("jsonpath expression cannot be empty")
        try:
            tmpl = jsonpath.parse(jsonpath.relaxed(expr))
        except jsonpath.JsonPathError as exc:
            raise CliError(f"error parsing jsonpath {expr}, {exc}") from None
        return Condition("jsonpath", value=expected, template=tmpl)
    raise CliError(f'unrecognized condition: "{text}"')


def _split_jsonpath(rest: str) -> tuple[str, str | None]:
    """``{.status.phase}=Running`` -> (``{.status.phase}``, ``Running``); the ``=`` after
    the closing brace (or the first one, unbraced) separates the value."""
    if rest.startswith("{"):
        end = rest.find("}")
        if end >= 0:
            expr, tail = rest[:end + 1], rest[end + 1:]
            if not tail:
                return expr, None
            if not tail.startswith("="):
                raise CliError(f'unrecognized condition: "jsonpath={rest}"')
            return expr, tail[1:]
    expr, sep, value = rest.partition("=")
    return expr, value if sep else None


def _watch_until(st: State, t: write_util.Target, rv: str, deadline: float,
                 done: Callable[[str, Obj], bool]) -> bool:
    """Watch the object from ``rv`` until ``done(event type, object)`` or the deadline."""
    path = t.info.collection_path(t.namespace if t.info.namespaced else None)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        params = {"fieldSelector": f"metadata.name={t.name}", "resourceVersion": rv,
                  "timeoutSeconds": max(1, math.ceil(left)), "allowWatchBookmarks": "true"}
        try:
            for ev in st.client.watch_raw(path, params):
                obj = ev.get("object") or {}
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if ev.get("type") == "BOOKMARK":
                    continue
                if done(str(ev.get("type")), obj):
                    return True
                if time.monotonic() >= deadline:
                    return False
        except Gone:
            # The resourceVersion is too old: read the object again and go on from there.
            try:
                obj = write_util.get(st, t)
            except NotFound:
                if done("DELETED", {}):
                    return True
                rv = "0"
                continue
            if done("MODIFIED", obj):
                return True
            rv = str(obj["metadata"]["resourceVersion"])


def wait_one(st: State, t: write_util.Target, cond: Condition, timeout: float) -> bool | None:
    """True when met, False on the timeout, None when there was nothing to wait for (kubectl
    says nothing about an object already gone that is waited on for deletion)."""
    deadline = time.monotonic() + timeout
    if cond.kind == "delete":
        try:
            obj = write_util.get(st, t)
        except NotFound:
            return None
        uid = obj["metadata"].get("uid")

        def gone(kind: str, o: Obj) -> bool:
            return kind == "DELETED" or (o.get("metadata") or {}).get("uid") not in (None, uid)

        return _watch_until(st, t, str(obj["metadata"]["resourceVersion"]), deadline, gone)
    obj = write_util.get(st, t)  # NotFound: kubectl's error
    if cond.met(obj):
        return True
    return _watch_until(st, t, str(obj["metadata"]["resourceVersion"]), deadline,
                        lambda kind, o: kind != "DELETED" and cond.met(o))


@click.command("wait")
@click.argument("args", nargs=-1)
@click.option("--for", "for_", metavar="CONDITION",
              help="condition=NAME[=VALUE], jsonpath='{PATH}'[=VALUE], delete or create.")
@click.option("--timeout", default="30s", show_default=True,
              help="How long to wait for each object (0: check once; negative: a week).")
@click.option("-l", "--selector", metavar="SELECTOR", help="The objects matching these labels.")
@click.option("--all", "all_", is_flag=True, help="Every object of the type in the namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="With -l/--all: every namespace.")
@click.option("-f", "--filename", multiple=True, help="The objects named in these files.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@common
def wait_cmd(args: tuple[str, ...], for_: str | None, timeout: str, selector: str | None,
             all_: bool, all_namespaces: bool, filename: tuple[str, ...],
             recursive: bool) -> None:
    """Wait for objects to meet a condition, to hold a value, or to be deleted.

    \b
    Examples:
      minictl wait --for=condition=Available deployment/nginx --timeout=60s
      minictl wait pods -l app=nginx --for=condition=Ready
      minictl wait pod/web --for=jsonpath='{.status.phase}'=Running
      minictl wait pod/web --for=delete --timeout=30s
    """
    st = state()
    cond = parse_for(for_)
    text = timeout.strip()
    limit = -1.0 if text.startswith("-") else output.parse_duration(text)
    if limit < 0:
        limit = WEEK
    found = write_util.targets(st, args, filenames=filename, recursive=recursive,
                               selector=selector, all_=all_, all_namespaces=all_namespaces)
    if not found:
        if cond.kind == "delete":
            return
        raise CliError("no matching resources found")
    failed = False
    for t in found:
        try:
            met = wait_one(st, t, cond, limit)
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
            continue
        if met is None:
            continue
        if met:
            click.echo(f"{t.display} condition met")
        else:
            click.echo(f"error: timed out waiting for the condition on "
                       f"{t.info.plural}/{t.name}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)
