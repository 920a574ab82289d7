"""The scheduler's configuration file and flags, and the command line's answers to bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.config import ConfigError, load_config, parse_config, parse_weight_flag
from scheduler.main import build_parser, resolve_config
from scheduler.plugins import DEFAULT_WEIGHTS


def test_defaults() -> None:
    cfg = parse_config({})
    assert cfg.scheduler_name == "default-scheduler"
    assert cfg.percentage_of_nodes_to_score == 0
    assert cfg.weights == DEFAULT_WEIGHTS


def test_kube_scheduler_configuration(tmp_path: Path) -> None:
    f = tmp_path / "cfg.yaml"
    f.write_text("""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: my-scheduler
  plugins:
    score:
      disabled:
      - name: SelectorSpread
      enabled:
      - name: NodeResourcesBalancedAllocation
        weight: 5
""")
    cfg = load_config(f)
    assert cfg.scheduler_name == "my-scheduler"
    assert cfg.percentage_of_nodes_to_score == 30
    assert cfg.weights == {"NodeResourcesLeastAllocated": 1,
                           "NodeResourcesBalancedAllocation": 5, "NodeAffinity": 2,
                           "TaintToleration": 3}


def test_disable_all_then_enable_one() -> None:
    cfg = parse_config({"profiles": [{"plugins": {"score": {
        "disabled": [{"name": "*"}], "enabled": [{"name": "SelectorSpread"}]}}}]})
    assert cfg.weights == {"SelectorSpread": 2}


@pytest.mark.parametrize(("data", "match"), [
    ([], "YAML mapping"),
    ({"kind": "Pod"}, "KubeSchedulerConfiguration"),
    ({"percentageOfNodesToScore": 101}, "0..100"),
    ({"profiles": [{}, {}]}, "one profile"),
    ({"profiles": [{"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}]},
     "unknown score plugin 'Nope'"),
    ({"profiles": [{"plugins": {"score": {"enabled": [
        {"name": "SelectorSpread", "weight": -1}]}}}]}, "weight must be"),
])
def test_bad_config(data: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_config(data)


def test_weight_flags_win_over_the_file(tmp_path: Path) -> None:
    f = tmp_path / "cfg.yaml"
    f.write_text("percentageOfNodesToScore: 30\n")
    args = build_parser().parse_args([
        "--config", str(f), "--percentage-of-nodes-to-score", "70",
        "--score-weight", "SelectorSpread=0", "--score-weight", "NodeResourcesLeastAllocated=3"])
    cfg = resolve_config(args)
    assert cfg.percentage_of_nodes_to_score == 70
    assert cfg.weights["SelectorSpread"] == 0
    assert cfg.weights["NodeResourcesLeastAllocated"] == 3
    assert parse_weight_flag("SelectorSpread=4") == ("SelectorSpread", 4)
    with pytest.raises(ConfigError):
        parse_weight_flag("SelectorSpread")


@pytest.mark.parametrize(("argv", "match"), [
    (["--score-weight", "Nope=1"], "unknown score plugin 'Nope'"),
    (["--percentage-of-nodes-to-score", "200"], "0..100"),
    (["--config", "/nonexistent/cfg.yaml"], "cannot read /nonexistent/cfg.yaml"),
    (["--leader-elect", "--leader-elect-renew-deadline", "20"], "lease duration > renew"),
])
def test_command_line_rejects_bad_input_in_one_line(argv: list[str], match: str) -> None:
    r = subprocess.run([sys.executable, "-m", "scheduler", "--server", "http://127.0.0.1:9",
                        *argv], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], r.stderr
