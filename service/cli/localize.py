"""`sguardo localize IMAGE PHRASE...`: where each phrase is in a photo, as a box and a PNG.

Torch-free: the bundle runs through ONNX Runtime with the service's own encoder, embedder
and localisation code, so the command shows exactly what POST /localize answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sguardo.service.core.settings import Settings

if TYPE_CHECKING:  # the serving stack is imported when the command runs, not by `sguardo --help`
    from PIL import Image

    from sguardo.service.localize.localizer import Localization

console = Console(stderr=True)
DEMO_PREFIX = "demo:"


def resolve_image(spec: str) -> Path:
    """A path, or `demo:NAME` for a demo-gallery photo that an installed package carries
    (e.g. `demo:astronaut`): public-domain and CC0 photos for examples and docs."""
    if not spec.startswith(DEMO_PREFIX):
        return Path(spec)
    import importlib.util

    from sguardo.service.indexing.demo_gallery import DEMO_PHOTOS

    name = spec[len(DEMO_PREFIX) :]
    for photo in DEMO_PHOTOS:
        if Path(photo.relative_path).stem == name:
            found = importlib.util.find_spec(photo.package)
            if found is None or found.origin is None:
                break
            return Path(found.origin).parent / photo.relative_path
    names = ", ".join(Path(p.relative_path).stem for p in DEMO_PHOTOS)
    raise typer.BadParameter(f"no demo photo {name!r}; the demo photos are: {names}")


def localize(
    image: Annotated[
        str, typer.Argument(help="A photo (JPEG, PNG, WebP...), or demo:NAME, e.g. demo:astronaut.")
    ],
    phrases: Annotated[list[str], typer.Argument(help="One or more Italian phrases.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The overlay PNG (default: IMAGE-localize.png here)."),
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option(help="A model bundle (default: SGUARDO_BUNDLE_PATH, the demo).")
    ] = None,
    max_side: Annotated[int, typer.Option(min=64, help="Long side of the written PNG.")] = 640,
) -> None:
    """Find where each phrase is in a photo: prints the box and score, writes the overlay."""
    from sguardo.bundle.manifest import BundleError
    from sguardo.bundle.preprocessing import ImageDecodeError
    from sguardo.service.encoders.base import EncoderError
    from sguardo.service.localize.overlay import render_overlay
    from sguardo.service.localize.standalone import locate_file, standalone_localizer

    path = resolve_image(image)
    settings = Settings() if bundle is None else Settings(bundle_path=bundle)

    async def run() -> tuple[Image.Image, Localization]:
        async with standalone_localizer(settings) as localizer:
            return await locate_file(localizer, path, phrases)

    try:
        picture, result = asyncio.run(run())
    except (BundleError, EncoderError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except (OSError, ImageDecodeError) as exc:
        console.print(f"[red]error:[/] {escape(str(path))}: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    target = out or Path(f"{path.stem}-localize.png")
    for i, found in enumerate(result.phrases):
        b = found.box
        print(
            f"{found.phrase!r}: box {int(b.left)},{int(b.top)},{int(b.right)},{int(b.bottom)} "
            f"(left,top,right,bottom px of {result.width}x{result.height}), "
            f"score {found.score:.3f}, peak {found.point[0]:.0f},{found.point[1]:.0f}"
        )
        # The heatmap is on the decoded picture's grid; the box is in original pixels.
        fx, fy = picture.width / result.width, picture.height / result.height
        overlay = render_overlay(picture, found.heatmap, b.scaled(fx, fy), max_side=max_side)
        written = target if i == 0 else target.with_stem(f"{target.stem}-{i + 1}")
        overlay.save(written, optimize=True)
        print(f"  overlay: {written}")
    dense = f" + {result.dense_maps} dense maps" if result.dense_maps else ""
    console.print(f"{result.crops} crops{dense}, grid {result.grid.rows}x{result.grid.cols}")
