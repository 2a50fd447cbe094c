"""The chart's copies of deploy/monitoring's rules and dashboards (Helm reads only files inside
the chart; copies rather than links, so the packaged chart is self-contained everywhere).

    .venv/bin/python tests/k8s/sync_monitoring.py     # copy them again after a change
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING = REPO_ROOT / "deploy" / "monitoring"
FILES = REPO_ROOT / "k8s" / "sguardo" / "files"
# (source folder, pattern, the chart's folder)
SYNCED = [
    (MONITORING / "prometheus" / "rules", "*.yml", FILES / "prometheus-rules"),
    (MONITORING / "grafana", "*.json", FILES / "dashboards"),
]


def sync() -> None:
    for source, pattern, target in SYNCED:
        target.mkdir(parents=True, exist_ok=True)
        kept = {p.name for p in source.glob(pattern)}
        for stale in [p for p in target.glob(pattern) if p.name not in kept]:
            stale.unlink()
        for path in source.glob(pattern):
            shutil.copyfile(path, target / path.name)
            print(f"{path.relative_to(REPO_ROOT)} -> {(target / path.name).relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    sync()
