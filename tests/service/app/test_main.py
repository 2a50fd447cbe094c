"""The app module: torch-free, and a clear refusal to start without a usable bundle."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sguardo.service.app.main import create_app
from sguardo.service.app.services import StartupError
from sguardo.service.core.logs import JsonFormatter, request_id_var
from sguardo.service.core.settings import Settings


def test_importing_the_service_does_not_import_torch() -> None:
    code = (
        "import sys, sguardo.service.app.main, sguardo.service.encoders.onnxruntime, "
        "sguardo.service.encoders.triton, sguardo.service.cli.index, sguardo.cli; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGUARDO_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("SGUARDO_LIMITS__MAX_TEXT_CHARS", "77")
    monkeypatch.setenv("SGUARDO_ORIGINALS_PATH", "/data/originals")
    monkeypatch.setenv("SGUARDO_REGISTRY_PATH", "/data/registry")
    monkeypatch.setenv(
        "SGUARDO_EXECUTION_PROVIDERS", '["CUDAExecutionProvider","CPUExecutionProvider"]'
    )
    settings = Settings()
    assert settings.max_batch_size == 8 and settings.limits.max_text_chars == 77
    assert settings.execution_providers[0] == "CUDAExecutionProvider"
    assert settings.host == "127.0.0.1"
    assert settings.originals_path == Path("/data/originals")
    assert settings.registry_path == Path("/data/registry")


@pytest.mark.parametrize("broken", ["missing", "altered"])
def test_startup_refuses_an_unusable_bundle_with_a_clear_message(
    broken: str, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    if broken == "altered":
        shutil.copytree(tiny_bundle_dir, bundle)
        (bundle / "tokenizer.json").chmod(0o644)
        (bundle / "tokenizer.json").write_text("{}")
    app = create_app(
        Settings(bundle_path=bundle, store_path=tmp_path / "store", demo_gallery=False)
    )

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(StartupError, match=r"bundle\.json is missing|altered") as error:
        asyncio.run(start())
    assert str(error.value).startswith("cannot start:")


def test_json_logs_carry_the_request_id() -> None:
    record = logging.makeLogRecord({"msg": "ciao %s", "args": ("mondo",), "levelname": "INFO"})
    record.status = 200
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "ciao mondo" and line["request_id"] == "req-1"
    assert line["status"] == 200 and line["level"] == "INFO"


def test_the_demo_gallery_is_seeded_by_the_app_itself(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    """What `uvicorn --factory sguardo.service.app.main:create_app` runs: no CLI involved."""
    from sguardo.service.indexing.demo_gallery import demo_images

    settings = Settings(bundle_path=tiny_bundle_dir, store_path=tmp_path / "store")
    assert settings.demo_gallery  # on by default
    app = create_app(settings)

    async def count_after_start() -> int:
        async with app.router.lifespan_context(app):
            return (await app.state.services.gallery.info()).count

    assert asyncio.run(count_after_start()) == len(demo_images())
