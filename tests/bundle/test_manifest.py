import json
import shutil
from pathlib import Path

import pytest

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import MANIFEST_NAME, BundleError, read_manifest


@pytest.fixture
def bundle_copy(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))


def test_manifest_records_hashes_and_content_id(tiny_bundle_dir: Path) -> None:
    manifest = read_manifest(tiny_bundle_dir)
    graphs = {name for name in manifest.files if not name.startswith("checkpoint/")}
    assert graphs == {"text.onnx", "vision.onnx", "tokenizer.json"}
    assert "checkpoint/heads.safetensors" in manifest.files  # the training checkpoint too
    assert len(manifest.content_hash) == 16
    assert manifest.parity["fp32"]["text"].min_cosine >= 0.9999
    assert manifest.parity["fp32"]["vision"].min_cosine >= 0.9999


def test_missing_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="sguardo export"):
        read_manifest(tmp_path)


def test_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "vision.onnx").unlink()
    with pytest.raises(BundleError, match=r"incomplete: missing vision\.onnx"):
        Bundle.load(bundle_copy)


def test_altered_file_is_detected(bundle_copy: Path) -> None:
    with (bundle_copy / "tokenizer.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(BundleError, match=r"altered after export: tokenizer\.json"):
        Bundle.load(bundle_copy)


def test_unknown_schema_version_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / MANIFEST_NAME
    raw = json.loads(path.read_text())
    raw["schema_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="schema version 99"):
        Bundle.load(bundle_copy)


def test_corrupt_manifest_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(bundle_copy)


def test_missing_precision_variant_is_explained(tiny_bundle_dir: Path) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    with pytest.raises(BundleError, match="no int8 variant"):
        bundle.onnx_path("text", "int8")
