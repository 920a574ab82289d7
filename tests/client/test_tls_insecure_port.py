"""The API server's plain-HTTP port (every request on it is the superuser) binds only a
loopback address: a non-loopback --bind-address with --port is refused in one line, unless
--insecure-bind-address puts the plain port on loopback or --port 0 turns it off."""

from __future__ import annotations

import pytest

from apiserver.main import parse_args


def test_plain_http_refuses_a_non_loopback_address(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--bind-address", "0.0.0.0", "--port", "8080"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--port 8080 serves plain HTTP where every request is the superuser: it binds " \
        "only a loopback address, not 0.0.0.0" in err
    assert "Traceback" not in err


def test_plain_http_on_loopback_is_accepted() -> None:
    assert parse_args(["--bind-address", "127.0.0.1", "--port", "8080"]).port == 8080
    assert parse_args(["--bind-address", "::1", "--port", "8080"]).port == 8080
    assert parse_args(["--bind-address", "localhost"]).bind_address == "localhost"
