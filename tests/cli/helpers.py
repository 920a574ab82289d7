"""Running minictl in-process (click's CliRunner) against the real API server fixture."""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner, Result

from cli.main import cli
from testing.support import json_request


def mctl(server: str, *args: str, input: str | None = None,
         env: dict[str, str] | None = None) -> Result:
    """``minictl --server SERVER ARGS...``; never lets an exception escape unseen."""
    runner = CliRunner()
    result = runner.invoke(cli, ["--server", server, *args], input=input, env=env,
                           catch_exceptions=True)
    # The contract: whatever happens, minictl exits through its handler (SystemExit),
    # so an exception object here means a traceback would have reached the user.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"minictl {' '.join(args)} raised {result.exception!r}\n"
                             f"{result.output}") from result.exception
    assert "Traceback" not in result.output, result.output
    return result


def ok(server: str, *args: str, input: str | None = None) -> str:
    r = mctl(server, *args, input=input)
    assert r.exit_code == 0, f"minictl {' '.join(args)} -> {r.exit_code}\n{r.output}"
    return r.stdout


def fails(server: str, *args: str, input: str | None = None,
          env: dict[str, str] | None = None) -> str:
    """Exit code 1, nothing on stdout but what came before, one error line on stderr."""
    r = mctl(server, *args, input=input, env=env)
    assert r.exit_code == 1, f"minictl {' '.join(args)} -> {r.exit_code}\n{r.output}"
    err = r.stderr.strip()
    assert err, f"no error message for minictl {' '.join(args)}"
    return err


def post(server: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    code, out = json_request("POST", server + path, body)
    assert code == 201, (code, out)
    assert isinstance(out, dict)
    return out


def put_status(server: str, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    code, out = json_request("PUT", server + path + "/status", obj)
    assert code == 200, (code, out)
    assert isinstance(out, dict)
    return out


def get(server: str, path: str) -> dict[str, Any]:
    code, out = json_request("GET", server + path)
    assert code == 200, (code, out)
    assert isinstance(out, dict)
    return out


def cells(line: str) -> list[str]:
    """A table row split on kubectl's column gaps (two or more spaces)."""
    return [c for c in re.split(r"\s{2,}", line.strip()) if c]


def without_age(text: str) -> list[list[str]]:
    """Table rows without their age-like cells (AGE, DURATION): two tools run one after the
    other may print them a second apart."""
    return [[c for c in cells(line) if not re.fullmatch(r"\d+[smhd]|AGE", c)]
            for line in text.splitlines()]
