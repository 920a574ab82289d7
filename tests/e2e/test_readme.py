"""The README's promises, checked: the two Quickstart commands exist, the curl walk-through
(docs/tour.md) is the script the end-to-end test runs, and the error example is what the
server answers."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from testing.support import ROOT

README = (ROOT / "README.md").read_text()
TOUR = (ROOT / "docs" / "tour.md").read_text()


def _section(text: str, title: str) -> str:
    start = text.index(title)
    nxt = text.find("\n## ", start + len(title))
    nxt3 = text.find("\n### ", start + len(title))
    ends = [e for e in (nxt, nxt3) if e != -1]
    return text[start:min(ends) if ends else len(text)]


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_quickstart_is_exactly_two_commands_that_exist() -> None:
    block = _sh_blocks(_section(README, "## Quickstart"))[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["bash deploy/up.sh", "bash deploy/test.sh"]
    for c in commands:
        assert (ROOT / c.split()[1]).is_file()


def test_curl_walkthrough_is_the_tested_script_verbatim() -> None:
    script = (ROOT / "deploy" / "curl-examples.sh").read_text()
    body = script[script.index("API="):].rstrip("\n")
    block = _sh_blocks(_section(TOUR, "## The REST API with curl"))[0].rstrip("\n")
    assert block == body


def test_error_example_is_what_the_server_answers(server_url: str) -> None:
    example = _sh_blocks(_section(TOUR, "## The REST API with curl"))[1].splitlines()
    command, shown = example[0].removeprefix("$ "), json.loads(example[1])
    # The page's command is for the secured compose cluster; the shared test server is the
    # plain-HTTP superuser port, so the CA and token options go.
    command = re.sub(r'--cacert \S+ -H "[^"]*" ', "", command)
    command = command.replace("https://127.0.0.1:6443", server_url)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=20,
                         check=True).stdout
    assert json.loads(out) == shown


def test_the_scripts_parse() -> None:
    for script in ("deploy/up.sh", "deploy/down.sh", "deploy/test.sh", "deploy/curl-examples.sh",
                   ".ci/run"):
        subprocess.run(["bash", "-n", str(Path(ROOT, script))], check=True)
