"""The pipeline config: relative paths are the config file's, the trainer's overrides pass
through untouched, and the store's mode says what it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from sguardo.pipeline.config import StoreConfig, load_config


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    raw = {
        "registry": "registry",
        "runs_dir": "/abs/runs",
        "data": {"new": [{"kind": "jsonl", "path": "new.jsonl"}], "incoming": "drop"},
        "training": {"mode": "full", "trainer": {"output_dir": "keep/as/is", "lr": 1e-5}},
        "evaluation": {"retrieval": {"kind": "jsonl", "path": "eval.jsonl"}},
        "store": {"path": "store", "originals": "originals"},
        "pushgateway": "http://pushgateway:9091",
    }
    (folder / "c.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(folder / "c.yaml")
    assert config.registry == folder / "registry"
    assert config.runs_dir == Path("/abs/runs")
    assert config.data.new[0].path == str(folder / "new.jsonl")
    assert config.data.incoming == folder / "drop"
    assert config.store.originals == folder / "originals"
    assert config.training.trainer == {"output_dir": "keep/as/is", "lr": 1e-5}
    assert config.pushgateway == "http://pushgateway:9091"


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"mode": "direct", "path": "/s"}, "needs store.originals"),
        ({"mode": "direct", "originals": "/o"}, "needs store.path"),
        ({"mode": "direct", "kind": "qdrant", "originals": "/o"}, "needs store.url"),
    ],
)
def test_direct_mode_needs_its_store_and_originals(store: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StoreConfig.model_validate(store)


def test_service_mode_needs_neither() -> None:
    assert StoreConfig.model_validate({"mode": "service"}).service_url


def test_the_example_config_is_valid() -> None:
    import sguardo.pipeline

    example = Path(sguardo.pipeline.__file__).parent / "example_config.yaml"
    config = load_config(example)
    assert config.gate.primary == "t2i_recall_at_10" and config.store.mode == "direct"


def test_old_finished_runs_are_pruned(tmp_path: Path) -> None:
    from sguardo.pipeline.nightly import prune_runs

    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "report.json").write_text("{}")
    (tmp_path / "2026-11-05").mkdir()  # unfinished: never removed
    assert prune_runs(tmp_path, 2, tmp_path / "2026-11-06") == ["2026-11-01", "2026-11-02"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-03", "2026-11-04", "2026-11-05"]
