"""Prometheus rules: promtool's syntax check and unit tests, and what every alert must carry."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from typing import Any

import pytest
import yaml

from tests.deploy.monitoring.support import (
    PROMETHEUS_CONFIG,
    RULE_FILES,
    UNIT_TESTS,
    monitoring_readme,
)


def _alert_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return rules


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def test_promtool_checks_the_rules_and_the_example_config(promtool: str) -> None:
    rules = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = _run(promtool, "test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_stays_silent() -> None:
    cases: dict[str, set[str]] = defaultdict(set)
    for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases[case["alertname"]].add("fires" if case.get("exp_alerts") else "silent")
    names = {rule["alert"] for rule in _alert_rules()}
    missing = {name: {"fires", "silent"} - cases[name] for name in names}
    assert {name: kinds for name, kinds in missing.items() if kinds} == {}


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_says_what_and_where_the_runbook_is(rule: dict[str, Any]) -> None:
    annotations = rule.get("annotations", {})
    assert annotations.get("summary") and annotations.get("description")
    assert rule["labels"]["severity"] in {"page", "ticket", "warning"}
    anchor = rule["alert"].lower()
    assert annotations.get("runbook_url") == f"README.md#{anchor}"
    # The README's heading `#### SguardoX` is what GitHub anchors as #sguardox.
    assert f"#### {rule['alert']}\n" in monitoring_readme(), f"no runbook entry for {anchor}"
