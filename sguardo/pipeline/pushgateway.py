"""The run's metrics, pushed to a Prometheus Pushgateway (the contract in the README's
Monitoring section: job "sguardo-nightly", gauges `sguardo_retrain_*`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)
JOB = "sguardo-nightly"
DECISIONS = ("promoted", "rejected", "failed")
LAST_SUCCESS_FILE = "last_success.json"


def last_success(runs_dir: Path) -> float | None:
    try:
        return float(json.loads((runs_dir / LAST_SUCCESS_FILE).read_text())["timestamp"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_success(runs_dir: Path, timestamp: float, run: str) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    temp = runs_dir / f".{LAST_SUCCESS_FILE}.tmp"
    temp.write_text(json.dumps({"timestamp": timestamp, "run": run}) + "\n")
    temp.replace(runs_dir / LAST_SUCCESS_FILE)


def run_metrics(
    *,
    ended: float,
    duration: float,
    decision: str,
    success_timestamp: float | None,
    candidate: Mapping[str, float],
    current: Mapping[str, float],
) -> dict[str, object]:
    """What is pushed, as the report records it too."""
    return {
        "sguardo_retrain_last_run_timestamp_seconds": ended,
        "sguardo_retrain_last_success_timestamp_seconds": success_timestamp,
        "sguardo_retrain_duration_seconds": round(duration, 3),
        "sguardo_retrain_decision": {d: int(d == decision) for d in DECISIONS},
        "sguardo_retrain_metric": {"candidate": dict(candidate), "current": dict(current)},
    }


def push(gateway: str, metrics: Mapping[str, object], timeout: float = 10.0) -> None:
    """One group, job="sguardo-nightly", replacing the previous run's (PUT)."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    for name, doc in (
        ("sguardo_retrain_last_run_timestamp_seconds", "Unix time the last run ended"),
        ("sguardo_retrain_last_success_timestamp_seconds", "Unix time of the last completed run"),
        ("sguardo_retrain_duration_seconds", "Wall time of the last run"),
    ):
        value = metrics.get(name)
        if value is not None:  # no success yet: absent, and the alert says so
            Gauge(name, doc, registry=registry).set(float(value))  # type: ignore[arg-type]
    decision = Gauge(
        "sguardo_retrain_decision", "1 for the last run's outcome", ("decision",), registry=registry
    )
    for name, value in dict(metrics["sguardo_retrain_decision"]).items():  # type: ignore[call-overload]
        decision.labels(name).set(value)
    gauge = Gauge(
        "sguardo_retrain_metric", "The gate's metrics", ("model", "metric"), registry=registry
    )
    for model, values in dict(metrics["sguardo_retrain_metric"]).items():  # type: ignore[call-overload]
        for metric, value in values.items():
            gauge.labels(model, metric).set(value)
    push_to_gateway(gateway, job=JOB, registry=registry, timeout=timeout)
