"""`sguardo localize IMAGE PHRASE...`: prints each box, writes the overlay PNG, torch-free."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from sguardo.cli import app
from sguardo.service.cli.localize import resolve_image


@pytest.fixture
def photo(shared_data: Path) -> Path:
    return sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[0]


def test_localize_prints_the_box_and_writes_the_overlay(
    tiny_bundle_dir: Path, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "overlay.png"
    args = ["localize", str(photo), "una persona con un ombrello", "un cane"]
    result = CliRunner().invoke(app, [*args, "--bundle", str(tiny_bundle_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    width, height = Image.open(photo).size
    boxes = re.findall(r"box (\d+),(\d+),(\d+),(\d+) .* of (\d+)x(\d+)", result.stdout)
    assert len(boxes) == 2
    left, top, right, bottom, w, h = map(int, boxes[0])
    assert (w, h) == (width, height)
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    second = tmp_path / "overlay-2.png"
    for written in (out, second):
        assert f"overlay: {written}" in result.stdout
        with Image.open(written) as png:
            assert png.format == "PNG" and max(png.size) == 640


def test_demo_photos_resolve_by_name_and_errors_say_what_to_do(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    assert resolve_image("demo:astronaut").name == "astronaut.png"
    assert resolve_image("demo:astronaut").exists()
    runner = CliRunner()
    unknown = runner.invoke(app, ["localize", "demo:nessuna", "x"])
    assert unknown.exit_code == 2 and "astronaut" in unknown.output
    not_image = tmp_path / "a.jpg"
    not_image.write_bytes(b"no")
    bad = runner.invoke(app, ["localize", str(not_image), "x", "--bundle", str(tiny_bundle_dir)])
    assert bad.exit_code == 2 and "a.jpg" in bad.output
    no_bundle = runner.invoke(app, ["localize", str(not_image), "x", "--bundle", str(tmp_path)])
    assert no_bundle.exit_code == 1 and "bundle.json" in no_bundle.output
