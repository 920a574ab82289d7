"""The scheduler's configuration: a subset of KubeSchedulerConfiguration (YAML) plus flags.

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 50
    profiles:
    - schedulerName: default-scheduler
      plugins:
        score:
          enabled:
          - {name: NodeResourcesBalancedAllocation, weight: 2}
          disabled:
          - {name: SelectorSpread}     # or "*" to start from no scores at all

Flags given on the command line win over the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.plugins import DEFAULT_WEIGHTS, SCORES
from scheduler.service import DEFAULT_SCHEDULER_NAME


class ConfigError(ValueError):
    pass


@dataclass
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int = 0  # 0: adaptive
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


def _check_weight(name: str, weight: Any) -> int:
    if name not in SCORES:
        raise ConfigError(f"unknown score plugin {name!r}; known: {', '.join(sorted(SCORES))}")
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0 or weight > 100:
        raise ConfigError(f"score plugin {name}: weight must be an integer in 0..100, "
                          f"got {weight!r}")
    return weight


def _check_percentage(p: Any) -> int:
    if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 100:
        raise ConfigError(f"percentageOfNodesToScore must be an integer in 0..100, got {p!r}")
    return p


def parse_config(data: Any) -> SchedulerConfig:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    kind = data.get("kind")
    if kind is not None and kind != "KubeSchedulerConfiguration":
        raise ConfigError(f"kind must be KubeSchedulerConfiguration, got {kind!r}")
    cfg = SchedulerConfig()
    if "percentageOfNodesToScore" in data:
        cfg.percentage_of_nodes_to_score = _check_percentage(data["percentageOfNodesToScore"])
    profiles = data.get("profiles") or []
    if not isinstance(profiles, list):
        raise ConfigError("profiles must be a list")
    if len(profiles) > 1:
        raise ConfigError("only one profile is supported")
    if profiles:
        prof = profiles[0]
        if not isinstance(prof, dict):
            raise ConfigError("a profile must be a mapping")
        cfg.scheduler_name = str(prof.get("schedulerName") or cfg.scheduler_name)
        if "percentageOfNodesToScore" in prof:
            cfg.percentage_of_nodes_to_score = _check_percentage(
                prof["percentageOfNodesToScore"])
        score = ((prof.get("plugins") or {}).get("score")) or {}
        for item in score.get("disabled") or []:
            name = item.get("name") if isinstance(item, dict) else None
            if name == "*":
                cfg.weights = {}
            elif isinstance(name, str):
                _check_weight(name, 0)
                cfg.weights.pop(name, None)
            else:
                raise ConfigError("plugins.score.disabled entries need a name")
        for item in score.get("enabled") or []:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                raise ConfigError("plugins.score.enabled entries need a name")
            cfg.weights[name] = _check_weight(name, item.get("weight", DEFAULT_WEIGHTS.get(
                name, 1)))
    return cfg


def load_config(path: str | Path) -> SchedulerConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    import yaml  # only with --config: PyYAML is ~1.5 MB of RSS the scheduler rarely needs

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(data)


def parse_weight_flag(value: str) -> tuple[str, int]:
    """``--score-weight NodeResourcesBalancedAllocation=2``."""
    name, sep, w = value.partition("=")
    if not sep:
        raise ConfigError(f"--score-weight wants NAME=WEIGHT, got {value!r}")
    try:
        weight = int(w)
    except ValueError:
        raise ConfigError(f"--score-weight {name}: {w!r} is not an integer") from None
    return name, _check_weight(name, weight)
