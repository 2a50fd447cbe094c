"""The promotion gate: a candidate replaces the current model only if it is better.

Rules, on metrics measured the same way for both models (fractions in [0, 1]):
  1. no checked metric falls more than `tolerance` below the current model's, and
  2. the primary metric improves (strictly).
With no current model the candidate is promoted; `force` promotes whatever the rules say
(the reasons are still reported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

Decision = Literal["promoted", "rejected"]


class GateError(ValueError):
    """The gate cannot decide: a configured metric was not measured."""


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    candidate: float
    current: float
    delta: float  # candidate - current
    passed: bool
    rule: Literal["primary", "tolerance"]


@dataclass
class GateResult:
    decision: Decision
    forced: bool
    reasons: list[str] = field(default_factory=list)  # why it was rejected (or forced)
    checks: list[MetricCheck] = field(default_factory=list)

    @property
    def promote(self) -> bool:
        return self.decision == "promoted"

    def as_dict(self) -> dict:
        return asdict(self)


def decide(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    *,
    primary: str,
    tolerance: float,
    metrics: Sequence[str] | None = None,
    force: bool = False,
) -> GateResult:
    if primary not in candidate:
        raise GateError(
            f"the gate's primary metric {primary!r} was not measured; measured: "
            f"{', '.join(sorted(candidate)) or 'nothing'} (check gate.primary and the "
            "evaluation sets)"
        )
    if current is None:
        return GateResult("promoted", force, ["no current model: the first candidate is promoted"])
    checked = list(metrics) if metrics is not None else sorted(set(candidate) & set(current))
    missing = [m for m in checked if m not in candidate or m not in current]
    if missing:
        raise GateError(f"gate metrics not measured for both models: {', '.join(missing)}")
    checks, reasons = [], []
    for name in checked:
        delta = candidate[name] - current[name]
        passed = delta >= -tolerance
        checks.append(MetricCheck(name, candidate[name], current[name], delta, passed, "tolerance"))
        if not passed:
            reasons.append(
                f"{name} fell {-delta:.4f} below the current model ({current[name]:.4f} → "
                f"{candidate[name]:.4f}; tolerance {tolerance:.4f})"
            )
    if primary not in current:
        raise GateError(f"the current model was not measured on {primary!r}")
    delta = candidate[primary] - current[primary]
    checks.append(
        MetricCheck(primary, candidate[primary], current[primary], delta, delta > 0, "primary")
    )
    if delta <= 0:
        reasons.append(
            f"primary metric {primary} did not improve ({current[primary]:.4f} → "
            f"{candidate[primary]:.4f}, {delta:+.4f})"
        )
    decision: Decision = "promoted" if force or not reasons else "rejected"
    return GateResult(decision, force and bool(reasons), reasons, checks)
