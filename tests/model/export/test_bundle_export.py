import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from sguardo.bundle.loader import Bundle
from sguardo.cli import app
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export import parity
from sguardo.model.export.bundle_export import ExportOptions, export_bundle
from sguardo.model.export.parity import ParityError
from sguardo.model.export.parity_inputs import default_captions, default_images

runner = CliRunner()


def test_graphs_have_dynamic_axes(tiny_bundle_dir: Path) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    text = ort.InferenceSession(str(bundle.onnx_path("text")))
    assert [i.shape for i in text.get_inputs()] == [["batch", "sequence"], ["batch", "sequence"]]
    vision = ort.InferenceSession(str(bundle.onnx_path("vision")))
    assert vision.get_inputs()[0].shape[0] == "batch"


def test_onnx_matches_torch_at_an_unseen_batch_size(
    tiny_bundle_dir: Path, tiny_model: DualEncoder, italian_sentences: list[str]
) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    session = ort.InferenceSession(str(bundle.onnx_path("text")))
    texts = italian_sentences[:7]
    onnx_out = session.run(None, bundle.tokenizer()(texts))[0]
    torch_out = tiny_model.embed_texts(texts).numpy()
    assert np.allclose(onnx_out, torch_out, atol=1e-5)
    assert np.allclose(np.linalg.norm(onnx_out, axis=1), 1.0, atol=1e-5)


def test_failed_gate_writes_nothing_and_names_the_tower(
    tiny_model: DualEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real INT8 quantisation against a bar no quantised graph reaches.
    monkeypatch.setitem(parity.THRESHOLDS, "int8", 0.999999)
    target = tmp_path / "bundle"
    with pytest.raises(ParityError, match=r"int8 text tower fails the parity gate: worst row"):
        export_bundle(
            tiny_model,
            target,
            default_captions(),
            default_images(),
            ExportOptions(int8=True, progress=False),
        )
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its temporary directory


def test_existing_bundle_is_not_overwritten_by_default(tiny_model, tiny_bundle_dir, tmp_path):
    target = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_bundle(tiny_model, target, default_captions(), default_images())


def test_fp16_variant_passes_its_gate(tiny_model: DualEncoder, tmp_path: Path) -> None:
    result = export_bundle(
        tiny_model,
        tmp_path / "b",
        default_captions(),
        default_images(),
        ExportOptions(fp16=True, progress=False),
    )
    assert result.manifest.parity["fp16"]["text"].min_cosine >= 0.999
    assert Bundle.load(result.directory).onnx_path("vision", "fp16").is_file()


def test_hf_dual_encoder_checkpoint_exports(tiny_hf_dual_encoder_dir: Path, tmp_path: Path):
    result = runner.invoke(
        app,
        ["export", "--hf-dual-encoder", str(tiny_hf_dual_encoder_dir), "-o", str(tmp_path / "b")],
    )
    assert result.exit_code == 0, result.output
    manifest = Bundle.load(tmp_path / "b").manifest
    assert manifest.embedding_dim == 24
    assert manifest.parity["fp32"]["text"].min_cosine >= 0.9999


def test_cli_export_with_real_parity_inputs(
    tiny_model: DualEncoder, tmp_path: Path, shared_data: Path
) -> None:
    tiny_model.save(tmp_path / "model")
    captions = tmp_path / "captions.txt"
    captions.write_text("un cane che corre\nuna pizza margherita\nla torre di Pisa\n")
    args = [
        "export",
        "--model",
        str(tmp_path / "model"),
        "-o",
        str(tmp_path / "b"),
        "--parity-images",
        str(shared_data / "coco128/images/val2017"),
        "--parity-captions",
        str(captions),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Bundle.load(tmp_path / "b").manifest.parity["fp32"]["vision"].rows == 16


def test_cli_refuses_two_model_sources(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--preset", "x", "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert "at most one" in result.output


def test_bundle_info_prints_manifest_and_rejects_altered(tiny_bundle_dir: Path, tmp_path: Path):
    result = runner.invoke(app, ["bundle", "info", str(tiny_bundle_dir)])
    assert result.exit_code == 0, result.output
    assert "test/tiny" in result.output and "parity fp32 text" in result.output
    copy = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "b"))
    (copy / "text.onnx").write_bytes(b"tampered")
    result = runner.invoke(app, ["bundle", "info", str(copy)])
    assert result.exit_code == 1
    assert "altered" in result.output


def test_export_leaves_the_model_unchanged(
    tiny_model: DualEncoder, italian_sentences: list[str], tmp_path: Path
) -> None:
    before = tiny_model.embed_texts(italian_sentences)
    export_bundle(
        tiny_model,
        tmp_path / "b",
        default_captions(),
        default_images(),
        ExportOptions(progress=False),
    )
    assert torch.equal(tiny_model.embed_texts(italian_sentences), before)
