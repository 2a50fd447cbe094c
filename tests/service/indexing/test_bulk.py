"""Bulk indexing: folders and manifests, idempotent re-runs, resumed interruptions, skips."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sguardo.cli import app
from sguardo.service.app.services import Services, build_services
from sguardo.service.core.metrics import Metrics
from sguardo.service.core.settings import Settings
from sguardo.service.indexing.bulk import Limits, collect_sources, index_sources
from sguardo.service.originals.filesystem import FilesystemOriginals
from sguardo.service.store.ids import point_id_for_bytes

LIMITS = Limits(max_bytes=10_000_000, max_pixels=40_000_000)


@pytest.fixture
def photos(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:6]


@pytest.fixture
def settings(tiny_bundle_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path / "store",
        originals_path=tmp_path / "originals",
        max_wait_ms=1,
    )


def with_services(settings: Settings, body: Callable[[Services], object]) -> object:
    async def run() -> object:
        services = await build_services(settings, Metrics())
        try:
            result = body(services)
            return await result if asyncio.iscoroutine(result) else result
        finally:
            await services.close()

    return asyncio.run(run())


def stored(settings: Settings, files: list[Path]) -> set[str]:
    ids = [point_id_for_bytes(f.read_bytes()) for f in files]
    return with_services(settings, lambda s: s.gallery.existing(ids))  # type: ignore[return-value]


def folder_with_bad_files(tmp_path: Path, photos: list[Path]) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for photo in photos[:3]:
        shutil.copy(photo, folder / photo.name)
    shutil.copy(photos[3], folder / "sub" / photos[3].name)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    data = photos[4].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(b"ignored")
    return folder


def run_cli(settings: Settings, *args: str) -> str:
    env = {
        "SGUARDO_BUNDLE_PATH": str(settings.bundle_path),
        "SGUARDO_STORE_PATH": str(settings.store_path),
        "SGUARDO_ORIGINALS_PATH": str(settings.originals_path),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["index", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_folder_index_reports_skips_and_is_idempotent(
    settings: Settings, tmp_path: Path, photos: list[Path]
) -> None:
    folder = folder_with_bad_files(tmp_path, photos)
    first = run_cli(settings, str(folder), "--batch-size", "2")
    assert "4 indexed, 0 already" in first
    assert "3 skipped" in first
    reasons = {
        name: next(line for line in first.splitlines() if name in line)
        for name in ("corrupt.jpg", "truncated.jpg", "notes.txt")
    }
    assert "not an image (unrecognised" in reasons["corrupt.jpg"]
    assert "cannot decode" in reasons["truncated.jpg"]
    assert "not an image file" in reasons["notes.txt"]
    assert ".hidden" not in first
    assert stored(settings, photos[:4]) == {point_id_for_bytes(p.read_bytes()) for p in photos[:4]}
    # Every indexed photo's original is kept, byte for byte; nothing for the skipped files.
    originals = FilesystemOriginals(settings.originals_path)
    for photo in photos[:4]:
        assert originals.get(point_id_for_bytes(photo.read_bytes())) == photo.read_bytes()
    assert len([p for p in settings.originals_path.rglob("*") if p.is_file()]) == 4

    second = run_cli(settings, str(folder))
    assert "0 indexed, 4 already" in second


def test_interrupted_run_resumes_without_loss_or_duplicates(
    settings: Settings, tmp_path: Path, photos: list[Path]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    sources, _ = collect_sources(folder)

    class Interrupted(Exception):
        """Stands in for Ctrl-C or a killed process after the first batch was stored."""

    def stop_after_first_batch(_: int) -> None:
        raise Interrupted

    async def interrupted(services: Services) -> None:
        with pytest.raises(Interrupted):
            await index_sources(
                services.indexer,
                sources,
                LIMITS,
                batch_size=2,
                workers=1,
                on_progress=stop_after_first_batch,
            )

    with_services(settings, interrupted)
    partial = stored(settings, photos)
    assert 0 < len(partial) < len(photos)

    async def resumed(services: Services) -> object:
        return await index_sources(services.indexer, sources, LIMITS, batch_size=2, workers=2)

    report = with_services(settings, resumed)
    assert report.indexed == len(photos) - len(partial)  # type: ignore[attr-defined]
    assert report.already_present == len(partial)  # type: ignore[attr-defined]
    assert report.skipped == []  # type: ignore[attr-defined]
    assert len(stored(settings, photos)) == len(photos)


def test_manifest_metadata_and_limits(
    settings: Settings, tmp_path: Path, photos: list[Path]
) -> None:
    big = tmp_path / "big.jpg"  # a real JPEG padded past the byte limit
    big.write_bytes(photos[2].read_bytes() + bytes(1_100_000))
    records = [{"image": str(p), "album": "mare", "anno": 2024} for p in photos[:2]]
    records += [{"image": "big.jpg"}, {"caption": "no image field"}, {"image": "missing.jpg"}]
    records += [{"image": str(photos[3]), "thumbnail": "reserved key"}]
    lines = [json.dumps(r) for r in records]
    lines.insert(3, "{not json")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    sources, skipped = collect_sources(manifest)
    assert [s.label for s in skipped] == ["manifest.jsonl:4", "manifest.jsonl:5"]
    limits = Limits(max_bytes=1_000_000, max_pixels=LIMITS.max_pixels)

    async def run(services: Services) -> object:
        report = await index_sources(services.indexer, sources, limits, batch_size=8)
        point = await services.gallery.get(point_id_for_bytes(photos[0].read_bytes()))
        return report, point

    report, point = with_services(settings, run)  # type: ignore[misc]
    reasons = {s.label: s.reason for s in report.skipped}
    assert reasons["big.jpg"].startswith("too large")
    assert reasons["missing.jpg"].startswith("unreadable")
    assert reasons[str(photos[3])].startswith("bad metadata")
    assert report.indexed == 2
    assert point.payload["album"] == "mare" and point.payload["anno"] == 2024
    assert point.payload["filename"] == photos[0].name


def test_missing_source_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["index", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in " ".join(result.output.split())
