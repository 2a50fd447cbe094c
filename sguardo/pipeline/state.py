"""The run directory's state file: which steps finished and what they produced.

Written whole to a temporary file and renamed over `state.json` (atomic), so a run killed at
any moment leaves either the previous state or the new one. A finished step is never run
again; an unfinished one is run again from its start, which every step makes safe (outputs
are written aside and moved into place, reindexing skips what is already in the target).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunState:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STATE_FILE
        self.data: dict[str, Any] = {"steps": {}}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text())

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.data["steps"]

    def done(self, step: str) -> bool:
        return bool(self.steps.get(step, {}).get("done"))

    def output(self, step: str) -> dict[str, Any]:
        return self.steps[step].get("output", {})

    def start(self, step: str) -> None:
        entry = self.steps.setdefault(step, {})
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry.setdefault("started_at", now())
        self.save()

    def finish(self, step: str, output: dict[str, Any], seconds: float) -> None:
        entry = self.steps.setdefault(step, {})
        entry.update(done=True, output=output, finished_at=now())
        entry["seconds"] = round(float(entry.get("seconds", 0.0)) + seconds, 2)
        self.save()

    def note(self, step: str, **values: Any) -> None:
        """Progress inside a step (e.g. reindexing's count), for the display and for tests."""
        self.steps.setdefault(step, {}).update(values)
        self.save()

    def add_seconds(self, step: str, seconds: float) -> None:
        entry = self.steps.setdefault(step, {})
        entry["seconds"] = round(float(entry.get("seconds", 0.0)) + seconds, 2)
        self.save()

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        temp = self.run_dir / f".{STATE_FILE}.{uuid.uuid4().hex}"
        temp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(temp, self.path)
