"""IntOrString values such as maxSurge / maxUnavailable: an int or a "25%" string."""

from __future__ import annotations

__all__ = ["IntOrStringError", "is_percent", "resolve_fenceposts", "scaled_value"]


class IntOrStringError(ValueError):
    pass


def is_percent(value: int | str | None) -> bool:
    return isinstance(value, str) and value.endswith("%")


def scaled_value(int_or_percent: int | str | None, total: int, round_up: bool) -> int:
    """``GetScaledValueFromIntOrPercent``: an int as is, "N%" of ``total`` rounded as asked.

    None counts as 0 (an unset field).  Strings that are not percentages are
    rejected, as in Kubernetes.
    """
    if int_or_percent is None:
        return 0
    if isinstance(int_or_percent, bool):
        raise IntOrStringError(f"invalid value for IntOrString: {int_or_percent!r}")
    if isinstance(int_or_percent, int):
        return int_or_percent
    s = int_or_percent
    if not s.endswith("%"):
        raise IntOrStringError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {s!r}"
        )
    try:
        percent = int(s[:-1])
    except ValueError:
        raise IntOrStringError(f"invalid value {s!r}: not an integer percentage") from None
    # Integer arithmetic: percent * total / 100 exactly, then round.
    if round_up:
        return -(-(percent * total) // 100)
    return (percent * total) // 100


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) for a rolling update, as the deployment controller computes them.

    Surge rounds up, unavailability rounds down, and both 0 becomes unavailable 1
    so that a rollout can always make progress.
    """
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
