"""`sguardo pipeline nightly`: the steps in order, each run once per run directory.

    collect → clean → train → export → evaluate → gate ─ rejected: stop, nothing touched
                                                       └ promoted: register → reindex → verify
                                                                   → swap → promote

A step that finished is recorded in `state.json` and skipped when the same command runs
again; the first unfinished one starts over (reindexing resumes: it skips what the target
holds). The registry's `current` and the serving alias are only touched by the last two steps,
so a run that stops anywhere before them (crash, kill, rejection) leaves serving as it was.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sguardo.bundle.registry import Registry, RegistryError
from sguardo.pipeline import data, evaluation, gate, pushgateway, training
from sguardo.pipeline.config import PipelineConfig
from sguardo.pipeline.rollout import Rollout, open_rollout
from sguardo.pipeline.state import RunState, now

Outcome = Literal["promoted", "rejected", "failed"]
# Exit codes of `sguardo pipeline nightly` (2 is the CLI's own: a bad option or config).
EXIT_CODES: dict[Outcome, int] = {"promoted": 0, "failed": 1, "rejected": 3}
REPORT_FILE = "report.json"
STEPS = (
    "collect",
    "clean",
    "train",
    "export",
    "evaluate",
    "gate",
    "register",
    "reindex",
    "verify",
    "swap",
    "promote",
)


class PipelineError(RuntimeError):
    """The run cannot go on; the message says why and what to do."""


@dataclass
class NightlyResult:
    outcome: Outcome
    report: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def prune_runs(runs_dir: Path, keep: int, current: Path) -> list[str]:
    """Delete the oldest finished runs (those with a report) beyond the newest `keep`: each
    holds a candidate bundle (hundreds of MB); promoted ones live on in the registry."""
    finished = sorted(d for d in runs_dir.glob("*") if (d / REPORT_FILE).is_file() and d != current)
    removed = finished[: max(0, len(finished) - keep)]
    for directory in removed:
        shutil.rmtree(directory, ignore_errors=True)
    return [d.name for d in removed]


def default_run_dir(config: PipelineConfig) -> Path:
    """One run a day: the same command the same (UTC) day resumes the same run."""
    return config.runs_dir / datetime.now(UTC).strftime("%Y-%m-%d")


class Nightly:
    def __init__(
        self,
        config: PipelineConfig,
        run_dir: Path,
        *,
        force: bool = False,
        console: Console | None = None,
        rollout_factory: Callable[[], Rollout] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.force = force
        self.console = console or Console(stderr=True)
        self.state = RunState(self.run_dir)
        self.registry = Registry(config.registry)
        self._rollout_factory = rollout_factory or (lambda: open_rollout(config.store))
        self._rollout: Rollout | None = None

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> NightlyResult:
        self.state.data.setdefault("started_at", now())
        self.state.data.setdefault("started", time.time())
        self.state.data.setdefault("invocations", 0)
        self.state.data["invocations"] += 1
        if "parent" not in self.state.data:
            self.state.data["parent"] = self.registry.current()
        self.state.save()
        pruned = prune_runs(self.config.runs_dir, self.config.keep_runs, self.run_dir)
        if pruned:
            self.console.print(f"[dim]removed old runs: {', '.join(pruned)}[/dim]")
        outcome: Outcome = "failed"
        error: str | None = None
        try:
            outcome = asyncio.run(self._steps())
        except Exception as exc:  # every failure ends in a report, a push and exit 1
            error = f"{type(exc).__name__}: {exc}"
            step = next((s for s in STEPS if not self.state.done(s)), "?")
            self.console.print(f"[red]✗ {step} failed:[/red] {escape(str(exc))}")
            self.state.note(step, error=error)
        # Wall time since the run's first start: a resumed run counts its interruption too.
        duration = time.time() - float(self.state.data["started"])
        report = self._report(outcome, error, duration)
        return NightlyResult(outcome, report)

    async def _steps(self) -> Outcome:
        parent = self.state.data["parent"]
        if parent is None:
            raise PipelineError(
                f"the registry {self.config.registry} has no current bundle to train from: "
                "export one (`sguardo export`), then `sguardo bundle add DIR --promote`"
            )
        parent_dir = self.registry.get(parent).directory
        paths = {
            "collected": self.run_dir / "data" / "collected.jsonl",
            "train": self.run_dir / "data" / "train.jsonl",
            "candidate": self.run_dir / "candidate",
        }
        await self._step("collect", lambda: data.collect(self.config.data, paths["collected"]))
        await self._step(
            "clean", lambda: data.clean(self.config.data, paths["collected"], paths["train"])
        )
        await self._step(
            "train",
            lambda: training.train_candidate(
                parent_dir, paths["train"], self.config.training, self.run_dir, parent
            ),
        )
        await self._step("export", lambda: self._export(paths["candidate"], parent))
        await self._step("evaluate", lambda: self._evaluate(paths["candidate"], parent_dir))
        if self.force and self.state.done("gate") and not self.state.output("gate")["promote"]:
            self.state.steps.pop("gate")  # a rejected night, run again with --force
        await self._step("gate", self._gate)
        verdict = self.state.output("gate")
        if not verdict["promote"]:
            self._say_rejected(verdict)
            return "rejected"
        await self._step("register", lambda: self._register(paths["candidate"]))
        candidate_id = self.state.output("register")["bundle_id"]
        try:
            await self._step("reindex", lambda: self._reindex(candidate_id), run_async=True)
            target = self.state.output("reindex")["target"]
            await self._step("verify", lambda: self._rollout_call("verify", target), True)
            await self._step("swap", lambda: self._swap(target), run_async=True)
            await self._step("promote", lambda: self._promote(candidate_id, parent), True)
        finally:
            if self._rollout is not None:
                await self._rollout.close()
        return "promoted"

    async def _step(self, name: str, action: Callable[[], Any], run_async: bool = False) -> None:
        if self.state.done(name):
            self.console.print(f"[dim]✓ {name}: done in an earlier run, skipped[/dim]")
            return
        self.state.start(name)
        began = time.perf_counter()
        if name == "reindex":  # shows its own progress bar (one live display at a time)
            output = await action()
        else:
            with self.console.status(f"{name}…"):
                output = await action() if run_async else await asyncio.to_thread(action)
        seconds = time.perf_counter() - began
        self.state.finish(name, output or {}, seconds)
        self.console.print(f"[green]✓[/green] {name} ({seconds:.1f} s){_summary(name, output)}")

    # -- steps -----------------------------------------------------------------------------
    def _export(self, target: Path, parent: str) -> dict:
        from sguardo.model.dual_encoder import DualEncoder
        from sguardo.model.export import parity_inputs
        from sguardo.model.export.bundle_export import ExportOptions, export_bundle

        parity = self.config.parity
        images = (
            parity_inputs.images_from_dir(parity.images)
            if parity.images
            else parity_inputs.default_images()
        )
        captions = (
            parity_inputs.captions_from_file(parity.captions)
            if parity.captions
            else parity_inputs.default_captions()
        )
        trained = self.state.output("train")
        model = DualEncoder.load(trained["model_dir"])
        result = export_bundle(
            model,
            target,
            captions,
            images,
            ExportOptions(
                overwrite=True,  # a half-finished earlier attempt; the gate is re-run
                progress=False,
                checkpoint=trained["checkpoint"],
                source={"parent_bundle": parent, "pipeline_run": self.run_dir.name},
            ),
        )
        worst = min(t.min_cosine for t in result.manifest.parity["fp32"].values())
        return {
            "directory": str(result.directory),
            "content_hash": result.manifest.content_hash,
            "parity_min_cosine": worst,
            "megabytes": round(result.bytes_on_disk / 1e6, 1),
        }

    def _evaluate(self, candidate: Path, parent_dir: Path) -> dict:
        sets = evaluation.load_sets(self.config.evaluation)
        precision = self.config.evaluation.precision
        measured = {
            "candidate": evaluation.evaluate_bundle(candidate, sets, precision),
            "current": evaluation.evaluate_bundle(parent_dir, sets, precision),
        }
        evaluation.stamp_metrics(candidate, measured["candidate"])
        return measured | {"sets": sets.describe()}

    def _gate(self) -> dict:
        measured = self.state.output("evaluate")
        result = gate.decide(
            measured["candidate"],
            measured["current"],
            primary=self.config.gate.primary,
            tolerance=self.config.gate.tolerance,
            metrics=self.config.gate.metrics,
            force=self.force,
        )
        return result.as_dict() | {"promote": result.promote}

    def _register(self, candidate: Path) -> dict:
        entry, added = self.registry.add(candidate)
        return {"bundle_id": entry.id, "added": added}

    @property
    def rollout(self) -> Rollout:
        if self._rollout is None:
            self._rollout = self._rollout_factory()
        return self._rollout

    async def _rollout_call(self, method: str, *args: Any) -> dict:
        return dict(await getattr(self.rollout, method)(*args))

    async def _reindex(self, candidate_id: str) -> dict:
        before = await self.rollout.serving()
        self.state.note("reindex", serving_before=before.__dict__)
        columns = (
            TextColumn("reindex"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task("reindex", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)
                # state.json (a few KB) per batch: what an operator and the tests can follow.
                self.state.note("reindex", progress={"done": done, "total": total})

            report = await self.rollout.reindex(self.registry.get(candidate_id).directory, progress)
        return report

    async def _swap(self, target: str) -> dict:
        before = await self.rollout.serving()
        await self.rollout.swap(target)
        return {"alias": before.alias, "from": before.collection, "to": target}

    async def _promote(self, candidate_id: str, parent: str) -> dict:
        current = self.registry.current()
        if current not in (parent, candidate_id):
            raise RegistryError(
                f"the registry's current bundle moved during this run ({parent} → {current}); "
                f"not promoting {candidate_id} over it. Promote it by hand if you mean to: "
                f"`sguardo bundle promote {candidate_id}`"
            )
        replaced = self.registry.promote(candidate_id)
        reload = await self.rollout.after_promote(candidate_id)
        return {"bundle_id": candidate_id, "replaced": replaced, "service": reload}

    # -- reporting -------------------------------------------------------------------------
    def _say_rejected(self, verdict: dict) -> None:
        self.console.print("[yellow]✗ candidate rejected by the gate; nothing changed:[/yellow]")
        for reason in verdict["reasons"]:
            self.console.print(f"  - {escape(reason)}")

    def _report(self, outcome: Outcome, error: str | None, duration: float) -> dict[str, Any]:
        ended = time.time()
        runs_dir = self.config.runs_dir
        if outcome != "failed":
            pushgateway.record_success(runs_dir, ended, self.run_dir.name)
        measured = self.state.output("evaluate") if self.state.done("evaluate") else {}
        metrics = pushgateway.run_metrics(
            ended=ended,
            duration=duration,
            decision=outcome,
            success_timestamp=pushgateway.last_success(runs_dir),
            candidate=measured.get("candidate", {}),
            current=measured.get("current", {}),
        )
        report: dict[str, Any] = {
            "run": self.run_dir.name,
            "run_dir": str(self.run_dir),
            "decision": outcome,
            "exit_code": EXIT_CODES[outcome],
            "error": error,
            "started_at": self.state.data["started_at"],
            "ended_at": now(),
            "duration_seconds": round(duration, 2),
            "invocations": self.state.data["invocations"],
            "current_bundle": self.state.data["parent"],
            "candidate_bundle": self.state.output("register").get("bundle_id")
            if self.state.done("register")
            else None,
            "metrics": {k: measured.get(k, {}) for k in ("candidate", "current")},
            "gate": self.state.output("gate") if self.state.done("gate") else None,
            "steps": {
                name: {k: v for k, v in self.state.steps[name].items() if k not in ("started_at",)}
                for name in STEPS
                if name in self.state.steps
            },
            "pushgateway": {"url": self.config.pushgateway, "pushed": False, "metrics": metrics},
        }
        if self.config.pushgateway:
            try:
                pushgateway.push(self.config.pushgateway, metrics)
                report["pushgateway"]["pushed"] = True
            except Exception as exc:  # the night's result stands; monitoring says it is stale
                report["pushgateway"]["error"] = str(exc)
                self.console.print(f"[yellow]could not push to the Pushgateway:[/yellow] {exc}")
        path = self.run_dir / REPORT_FILE
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        temp.replace(path)
        return report


def _summary(step: str, output: Any) -> str:
    if not isinstance(output, dict):
        return ""
    if step in ("collect", "clean"):
        return f": {output.get('images')} images"
    if step == "train":
        return f": {output.get('mode')}, {output.get('steps')} steps"
    if step == "evaluate":
        return "".join(
            f"\n    {name}: candidate {output['candidate'][name]:.4f}, "
            f"current {output['current'].get(name, float('nan')):.4f}"
            for name in sorted(output["candidate"])
        )
    if step == "gate":
        return f": {output.get('decision')}"
    if step == "reindex":
        return f": {output.get('embedded')} embedded into {output.get('target')}"
    if step == "swap":
        return f": {output.get('alias')} → {output.get('to')}"
    if step == "promote":
        return f": current = {output.get('bundle_id')}"
    return ""
