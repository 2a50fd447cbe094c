"""The promotion gate's rules, one case each."""

from __future__ import annotations

import pytest

from sguardo.pipeline.gate import GateError, decide

CURRENT = {"t2i_recall_at_10": 0.50, "zeroshot_top1": 0.10, "zeroshot_top5": 0.30}


def test_better_primary_and_no_drop_beyond_tolerance_promotes() -> None:
    candidate = {"t2i_recall_at_10": 0.55, "zeroshot_top1": 0.09, "zeroshot_top5": 0.30}
    result = decide(candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02)
    assert result.decision == "promoted" and result.reasons == [] and not result.forced
    assert {c.metric: c.passed for c in result.checks if c.rule == "tolerance"} == {
        "t2i_recall_at_10": True,
        "zeroshot_top1": True,  # -0.01 is within the tolerance
        "zeroshot_top5": True,
    }


def test_a_drop_beyond_tolerance_rejects_and_names_the_metric_and_amount() -> None:
    candidate = {"t2i_recall_at_10": 0.60, "zeroshot_top1": 0.05, "zeroshot_top5": 0.30}
    result = decide(candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02)
    assert result.decision == "rejected"
    assert result.reasons == [
        "zeroshot_top1 fell 0.0500 below the current model (0.1000 → 0.0500; tolerance 0.0200)"
    ]


def test_exactly_at_tolerance_passes() -> None:
    candidate = {"t2i_recall_at_10": 0.51, "zeroshot_top1": 0.08, "zeroshot_top5": 0.30}
    result = decide(candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02 + 1e-12)
    assert result.decision == "promoted"


@pytest.mark.parametrize("primary_value", [0.50, 0.49])
def test_primary_must_strictly_improve(primary_value: float) -> None:
    candidate = CURRENT | {"t2i_recall_at_10": primary_value}
    result = decide(candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02)
    assert result.decision == "rejected"
    assert result.reasons[-1].startswith("primary metric t2i_recall_at_10 did not improve")


def test_only_the_configured_metrics_are_checked() -> None:
    candidate = {"t2i_recall_at_10": 0.60, "zeroshot_top1": 0.0, "zeroshot_top5": 0.30}
    result = decide(
        candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02, metrics=["zeroshot_top5"]
    )
    assert result.decision == "promoted"


def test_force_promotes_a_rejected_candidate_and_keeps_the_reasons() -> None:
    candidate = CURRENT | {"t2i_recall_at_10": 0.40}
    result = decide(candidate, CURRENT, primary="t2i_recall_at_10", tolerance=0.02, force=True)
    assert result.decision == "promoted" and result.forced
    assert len(result.reasons) == 2  # the primary fell beyond tolerance and did not improve


def test_no_current_model_promotes_the_first_candidate() -> None:
    result = decide(CURRENT, None, primary="t2i_recall_at_10", tolerance=0.0)
    assert result.decision == "promoted"


def test_an_unmeasured_primary_or_gate_metric_is_a_config_error() -> None:
    with pytest.raises(GateError, match="primary metric 'zeroshot_top3' was not measured"):
        decide(CURRENT, CURRENT, primary="zeroshot_top3", tolerance=0.02)
    with pytest.raises(GateError, match="i2t_recall_at_1"):
        decide(
            CURRENT,
            CURRENT,
            primary="zeroshot_top1",
            tolerance=0.02,
            metrics=["i2t_recall_at_1"],
        )
