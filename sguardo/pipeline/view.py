"""The end-of-run summary on the console: decision, metrics side by side, step durations."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

COLOURS = {"promoted": "green", "rejected": "yellow", "failed": "red"}


def show_report(console: Console, report: dict[str, Any]) -> None:
    metrics = report["metrics"]
    if metrics["candidate"]:
        table = Table(title="candidate vs current", title_justify="left")
        for column in ("metric", "current", "candidate", "Δ"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for name in sorted(metrics["candidate"]):
            cand, cur = metrics["candidate"][name], metrics["current"].get(name)
            delta = "" if cur is None else f"{cand - cur:+.4f}"
            table.add_row(name, "" if cur is None else f"{cur:.4f}", f"{cand:.4f}", delta)
        console.print(table)
    steps = Table(title="steps", title_justify="left")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    steps.add_column("attempts", justify="right")
    for name, entry in report["steps"].items():
        done = "" if entry.get("done") else " (not finished)"
        steps.add_row(name + done, f"{entry.get('seconds', 0):.1f}", str(entry.get("attempts", "")))
    console.print(steps)
    decision = report["decision"]
    line = f"[{COLOURS[decision]}]{decision}[/] in {report['duration_seconds']:.0f} s"
    if decision == "promoted":
        line += f": {report['candidate_bundle']} is current"
    elif decision == "rejected":
        line += f": {report['current_bundle']} stays current"
        for reason in (report.get("gate") or {}).get("reasons", []):
            line += f"\n  - {reason}"
    else:
        line += f": {report['error']}\n  run the same command again to resume"
    console.print(line)
    console.print(f"report: {report['run_dir']}/report.json")
