"""Memory is bounded by what a request may carry (issue 14, item 5): a stream of maximal but
allowed images (every mode at the decoded-bytes limit) through /embed and POST /images, four
requests at a time, grows the server's RSS by at most

    decode_threads x max_decoded_bytes + 96 MB   while it runs (bodies, arrays, allocator, and
                                                 the embedded store's own pages for the new
                                                 points), and
    48 MB                                        once it is over (freed pixels go back to the OS).

Before the fix, twelve 6300x6300 16-bit RGBA PNGs (309 KB each) left 1.9 GB behind.
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from tests.service.subprocess_server import serve_subprocess

MAX_DECODED = 24_000_000
DECODE_THREADS = 2
PEAK_BOUND = DECODE_THREADS * MAX_DECODED + 96_000_000
AFTER_BOUND = 48_000_000
# Sides at which each mode decodes to just under MAX_DECODED (bytes a pixel + the RGB copy).
MAXIMAL = {"RGB": 2828, "RGBA": 1850, "I;16": 2190, "P": 2440, "L": 2440}


def _png(mode: str, side: int) -> bytes:
    image = Image.new("RGB", (side, side), (10, 200, 30)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def test_rss_growth_under_a_stream_of_maximal_images_is_bounded(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    images = [_png(mode, side) for mode, side in MAXIMAL.items()]
    limits = {
        "limits__max_decoded_bytes": str(MAX_DECODED),
        "limits__max_image_pixels": "8000000",
        "limits__max_items_per_request": "5",
        "decode_threads": str(DECODE_THREADS),
    }
    with serve_subprocess(tiny_bundle_dir, tmp_path, **limits) as served:
        client = httpx.Client(base_url=served.url, timeout=120)

        def files(salt: int) -> list[tuple[str, tuple[str, bytes, str]]]:
            # Bytes after IEND change the id (a new image to index) and not the pixels.
            tail = salt.to_bytes(4, "big")
            return [("images", (f"{i}.png", x + tail, "image/png")) for i, x in enumerate(images)]

        # Warm up both paths (the store's write-ahead log, the allocator's arenas).
        assert client.post("/embed", files=files(0)).status_code == 200
        assert client.post("/images", files=files(0)).status_code == 200
        baseline = served.rss_bytes()
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, served.rss_bytes())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(4) as pool:
                paths = ["/embed", "/images"] * 8
                statuses = list(
                    pool.map(
                        lambda job: client.post(job[1], files=files(job[0])).status_code,
                        enumerate(paths, start=1),
                    )
                )
        finally:
            done.set()
            sampler.join()
        time.sleep(0.5)
        after = served.rss_bytes()
        assert statuses == [200] * len(paths)
        grown, kept = (peak - baseline) / 1e6, (after - baseline) / 1e6
        print(f"RSS growth: peak {grown:.0f} MB, after {kept:.0f} MB")
        assert peak - baseline < PEAK_BOUND, f"peak growth {(peak - baseline) / 1e6:.0f} MB"
        assert after - baseline < AFTER_BOUND, f"kept {(after - baseline) / 1e6:.0f} MB"
