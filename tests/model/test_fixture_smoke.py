from pathlib import Path

from sguardo.bundle.loader import Bundle


def test_tiny_bundle_loads(tiny_bundle_dir: Path) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    assert bundle.manifest.embedding_dim == 16
    assert bundle.onnx_path("text").is_file()
