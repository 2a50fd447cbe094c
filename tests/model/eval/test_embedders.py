"""Evaluation through ONNX Runtime on the tiny bundle agrees with the tiny torch model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sguardo.model.data.readers import read_jsonl
from sguardo.model.eval.embedders import OnnxEmbedder, TorchEmbedder
from sguardo.model.eval.retrieval import evaluate_retrieval, retrieval_set
from sguardo.model.eval.zeroshot import evaluate_zeroshot, load_labelled_images


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zs")
    rng = np.random.default_rng(0)
    rows = ["wnid\titaliano\tsplit"]
    names = ["un gatto", "un cane", "una tazza", "una pizza", "un treno", "una barca"]
    for i, name in enumerate(names):
        pixels = rng.integers(0, 255, size=(40, 40, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"c{i}.jpg")
        rows.append(f"c{i}\t{name}\t{'dev' if i % 2 else 'train'}")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    lines = [
        json.dumps({"image": f"c{i}.jpg", "captions": [f"una foto di {n}", n]})
        for i, n in enumerate(names)
    ]
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_zeroshot_onnx_equals_torch(
    tiny_model, tiny_bundle_dir: Path, labelled_folder: Path
) -> None:
    data = load_labelled_images(
        labelled_folder / "labels.tsv",
        labelled_folder,
        split="dev",
        id_column="wnid",
        label_column="italiano",
    )
    assert len(data.labels) == 3 and data.targets == [0, 1, 2]
    templates = ["una foto di {}", "un disegno di {}"]
    torch_report = evaluate_zeroshot(TorchEmbedder(tiny_model), data, templates)
    onnx_report = evaluate_zeroshot(OnnxEmbedder.load(tiny_bundle_dir), data, templates)
    assert onnx_report == pytest.approx(torch_report)
    assert onnx_report["classes"] == 3 and "accuracy@100" not in onnx_report


def test_retrieval_onnx_equals_torch(
    tiny_model, tiny_bundle_dir: Path, labelled_folder: Path
) -> None:
    data = retrieval_set(read_jsonl(labelled_folder / "captions.jsonl", labelled_folder))
    onnx = OnnxEmbedder.load(tiny_bundle_dir)
    np.testing.assert_allclose(
        onnx.embed_texts(data.captions),
        TorchEmbedder(tiny_model).embed_texts(data.captions),
        atol=1e-4,
    )
    report = evaluate_retrieval(onnx, data)
    assert report == pytest.approx(evaluate_retrieval(TorchEmbedder(tiny_model), data))
    assert report["captions"] == 12 and report["images"] == 6
