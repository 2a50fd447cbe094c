"""`sguardo collection ...`, `sguardo index --collection` and `sguardo bundle rollback` with the
alias: a second model rolled out and back on real photos, through the commands a user runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import read_manifest, write_manifest
from sguardo.bundle.registry import entry_id
from sguardo.cli import app
from sguardo.service.store.aliased import collection_name
from sguardo.service.store.embedded import EmbeddedStore


@pytest.fixture
def env(tiny_bundle_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "SGUARDO_BUNDLE_PATH": str(tiny_bundle_dir),
        "SGUARDO_STORE_PATH": str(tmp_path / "store"),
        "SGUARDO_ORIGINALS_PATH": str(tmp_path / "originals"),
        "SGUARDO_REGISTRY_PATH": str(tmp_path / "registry"),
        "SGUARDO_MAX_WAIT_MS": "1",
        "COLUMNS": "250",
    }


@pytest.fixture
def second_bundle(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    """Another model (another bundle id) of the same size."""
    other = tmp_path / "candidate"
    shutil.copytree(tiny_bundle_dir, other)
    write_manifest(other, read_manifest(other).model_copy(update={"model_id": "test/candidate"}))
    return other


@pytest.fixture
def folder(shared_data: Path, tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted((shared_data / "coco128" / "images" / "train2017").glob("*.jpg"))[:4]:
        shutil.copy(photo, photos / photo.name)
    return photos


def run(env: dict[str, str], *args: str, code: int = 0, **overrides: str) -> str:
    result = CliRunner().invoke(app, list(args), env={**env, **overrides})
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())  # rich wraps long messages


def collection_of(bundle: Path) -> str:
    return collection_name("images", Bundle.load(bundle).bundle_id)


def test_roll_a_second_model_out_and_back(
    env: dict[str, str], tiny_bundle_dir: Path, second_bundle: Path, folder: Path
) -> None:
    first, second = collection_of(tiny_bundle_dir), collection_of(second_bundle)
    assert "4 indexed" in run(env, "index", str(folder))
    listed = run(env, "collection", "list")
    assert f"images │ {first} │ test/tiny@" in listed and "│ 16 │ 4 │" in listed

    created = run(env, "collection", "create", "--bundle", str(second_bundle))
    assert f"collection {second} for bundle test/candidate@" in created
    assert f"│ │ {second} │" in run(env, "collection", "list")  # no alias points at it yet

    reindexed = run(env, "collection", "reindex", "--bundle", str(second_bundle))
    assert "4 embedded, 0 already in" in reindexed
    assert f"verified: 4 points in both {first} and {second}" in reindexed
    assert f"sguardo collection swap images {second}" in reindexed
    assert "0 embedded, 4 already in" in run(
        env, "collection", "reindex", "--bundle", str(second_bundle)
    )

    # The registry knows both; the second becomes current, the alias follows it.
    for bundle in (tiny_bundle_dir, second_bundle):
        run(env, "bundle", "add", str(bundle), "--promote")
    swapped = run(env, "collection", "swap", "images", second)
    assert "verified: 4 points" in swapped and f"images -> {second} (was {first})" in swapped
    refused = run(env, "collection", "drop", second, "--yes", code=1)
    assert "alias 'images' points at it" in refused and "swap" in refused

    rolled = run(env, "bundle", "rollback")
    assert f"current: {entry_id(read_manifest(tiny_bundle_dir))}" in rolled
    assert f"alias images -> {first} (was {second})" in rolled

    # Forward again, then the first model's collection is dropped: no rollback to it now.
    run(env, "bundle", "promote", entry_id(read_manifest(second_bundle)))
    run(env, "collection", "swap", "images", second)
    assert f"dropped: {first}" in run(env, "collection", "drop", first, "--yes")
    refused = run(env, "bundle", "rollback", code=1)
    assert "nothing rolled back" in refused and f"({first}) is gone" in refused
    assert "sguardo collection reindex --bundle" in refused and "--registry-only" in refused
    assert "current" in run(env, "bundle", "list").split(entry_id(read_manifest(second_bundle)))[0]
    registry_only = run(env, "bundle", "rollback", "--registry-only")
    assert "rolled back" in registry_only and "alias" not in registry_only


def test_index_into_a_collection_needs_the_bundle_that_built_it(
    env: dict[str, str], tiny_bundle_dir: Path, second_bundle: Path, folder: Path
) -> None:
    second = collection_of(second_bundle)
    missing = run(env, "index", str(folder), "--collection", second, code=1)
    assert "sguardo collection create" in missing
    run(env, "collection", "create", "--bundle", str(second_bundle))
    refused = run(env, "index", str(folder), "--collection", second, code=1)
    assert "was built with model bundle 'test/candidate@" in refused
    indexed = run(
        env,
        "index",
        str(folder),
        "--collection",
        second,
        SGUARDO_BUNDLE_PATH=str(second_bundle),
    )
    assert f"4 indexed, 0 already in collection '{second}'" in indexed
    assert f"│ │ {second} │ test/candidate@" in run(env, "collection", "list")
    assert "│ images │" not in run(env, "collection", "list")  # the alias was never made


def test_a_running_service_holds_the_embedded_store(
    env: dict[str, str], tiny_bundle_dir: Path, second_bundle: Path, folder: Path
) -> None:
    run(env, "index", str(folder))
    for bundle in (tiny_bundle_dir, second_bundle):
        run(env, "bundle", "add", str(bundle), "--promote")
    held = EmbeddedStore(Path(env["SGUARDO_STORE_PATH"]))  # as `sguardo serve` would
    try:
        listed = run(env, "collection", "list", code=1)
        assert "open in a running service" in listed and "POST /admin/reindex" in listed
        rolled = run(env, "bundle", "rollback", code=1)
        assert "nothing rolled back" in rolled and "POST /admin/swap" in rolled
        assert collection_of(tiny_bundle_dir) in rolled and "--registry-only" in rolled
    finally:
        held.close()
    assert "current" in run(env, "bundle", "list").split(entry_id(read_manifest(second_bundle)))[0]


def test_store_overrides_and_empty_store(env: dict[str, str], tmp_path: Path) -> None:
    empty = run(env, "collection", "list", "--store-path", str(tmp_path / "elsewhere"))
    assert "no collections yet" in empty
    missing = run(env, "collection", "drop", "images__000000000000", "--yes", code=1)
    assert "No collection 'images__000000000000'" in missing
    bad = run(env, "collection", "create", "--bundle", str(tmp_path / "nothing"), code=1)
    assert "cannot load bundle" in bad
