"""`sguardo serve`: finding or creating the bundle, and what it says when it cannot."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sguardo.cli import app
from sguardo.cli import serve as cli_serve
from sguardo.service.core.settings import Settings


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SGUARDO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SGUARDO_BUNDLE_PATH", raising=False)
    return tmp_path / "cache"


def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        cli_serve.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )


def test_missing_demo_bundle_without_torch_says_how_to_make_one(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_torch(monkeypatch)
    result = CliRunner().invoke(app, ["serve"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert str(cache / "bundles" / "demo") in text
    assert "sguardo[train]" in text and "sguardo export" in text and "SGUARDO_BUNDLE_PATH" in text


def test_missing_custom_bundle_is_not_exported(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "my-bundle"
    with pytest.raises(cli_serve.BundleUnavailable, match="sguardo export --output"):
        cli_serve.ensure_bundle(Settings(bundle_path=elsewhere))


def test_missing_demo_bundle_is_exported_in_a_subprocess(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(command)
        target = cache / "bundles" / "demo"
        target.mkdir(parents=True)
        (target / "bundle.json").write_text("{}")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(cli_serve.subprocess, "run", fake_run)
    cli_serve.ensure_bundle(Settings())
    assert calls and calls[0][1:] == ["-m", "sguardo", "export"]
    cli_serve.ensure_bundle(Settings())  # present now: nothing to do
    assert len(calls) == 1


def test_existing_bundle_is_used(
    tiny_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_export(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        raise AssertionError(f"nothing should be exported: {command}")

    monkeypatch.setattr(cli_serve.subprocess, "run", no_export)
    cli_serve.ensure_bundle(Settings(bundle_path=tiny_bundle_dir))
    assert capsys.readouterr().err == ""


def test_demo_bundle_older_than_the_demo_model_is_flagged(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = cache / "bundles" / "demo"
    bundle.mkdir(parents=True)
    (bundle / "bundle.json").write_text("{}")
    demo_model = tmp_path / "demo_model"
    demo_model.mkdir()
    (demo_model / "heads.safetensors").write_bytes(b"new heads")
    os.utime(bundle / "bundle.json", (1_000_000, 1_000_000))
    monkeypatch.setattr(cli_serve, "DEMO_MODEL_DIR", demo_model)
    cli_serve.ensure_bundle(Settings())
    assert "sguardo export --overwrite" in " ".join(capsys.readouterr().err.split())
    os.utime(bundle / "bundle.json")  # exported after the heads: no warning
    os.utime(demo_model / "heads.safetensors", (1_000_000, 1_000_000))
    cli_serve.ensure_bundle(Settings())
    assert "warning" not in capsys.readouterr().err
