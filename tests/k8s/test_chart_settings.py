"""The ConfigMap speaks the service's language: every key is a setting `Settings` reads.

pydantic-settings ignores unknown SGUARDO_* variables (extra="ignore"), so a misspelt key would
be silently dropped; these tests name each key's field instead of trusting the build to fail.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from sguardo.service.core.settings import Limits, Settings

from .conftest import CHART, CI_VALUES, Render, by_kind

CASES = [pytest.param((), id="defaults")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]
PREFIX = "SGUARDO_"


def config_data(objects: list[dict]) -> dict[str, str]:
    (config,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "sguardo"]
    return config["data"]


def nested_model(name: str) -> type[BaseModel] | None:
    annotation = Settings.model_fields[name].annotation
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_model else None


def field_of(key: str) -> tuple[str, str | None]:
    """SGUARDO_LIMITS__MAX_TEXT_CHARS → ("limits", "max_text_chars"); unknown names fail."""
    assert key.startswith(PREFIX), key
    name, _, nested = key.removeprefix(PREFIX).lower().partition("__")
    assert name in Settings.model_fields, f"{key}: Settings has no field {name!r}"
    model = nested_model(name)
    if nested:
        assert model is not None and nested in model.model_fields, f"{key}: no such field"
        return name, nested
    assert model is None, f"{key}: {name} is a group of settings; name one of its fields"
    return name, None


@pytest.mark.parametrize("values", CASES)
def test_configmap_builds_the_service_settings(
    render: Render, values: tuple[Path, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = config_data(render(*values))
    for key in data:
        field_of(key)
    # A clean environment: only the ConfigMap's variables reach Settings.
    for name in [k for k in os.environ if k.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for key, value in data.items():
        name, nested = field_of(key)
        parsed = getattr(getattr(settings, name), nested) if nested else getattr(settings, name)
        if isinstance(parsed, list):
            assert parsed == json.loads(value), key
        elif isinstance(parsed, bool):
            assert parsed is (value == "true"), key
        elif isinstance(parsed, int | float):
            assert parsed == float(value), key
        else:
            assert str(parsed) == value, key
    assert settings.host == "0.0.0.0"  # reachable from outside the container
    assert settings.demo_gallery is False


def test_values_settings_are_exactly_settings_fields() -> None:
    """values.schema.json's `settings` names only real fields (and refuses anything else)."""
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["settings"]
    assert schema["additionalProperties"] is False
    for name in schema["properties"]:
        assert name in Settings.model_fields, name
    limits = schema["properties"]["limits"]
    assert limits["additionalProperties"] is False
    assert set(limits["properties"]) <= set(Limits.model_fields)


def test_settings_values_render_verbatim(render: Render) -> None:
    """Helm reads YAML numbers as floats: 10000000 must not reach the service as 1e+07."""
    data = config_data(render(extra=("--set-json", "settings.limits.max_image_bytes=12345678")))
    assert data["SGUARDO_LIMITS__MAX_IMAGE_BYTES"] == "12345678"
    data = config_data(render(extra=("--set-json", "settings.max_wait_ms=2.5")))
    assert data["SGUARDO_MAX_WAIT_MS"] == "2.5"


def test_store_follows_the_qdrant_choice(render: Render) -> None:
    embedded = config_data(render())
    assert embedded["SGUARDO_STORE_KIND"] == "embedded"
    assert "SGUARDO_QDRANT_URL" not in embedded
    in_release = config_data(render(CHART / "ci" / "gpu-triton-values.yaml"))
    assert in_release["SGUARDO_QDRANT_URL"] == "http://sguardo-qdrant:6333"
    external = config_data(render(CHART / "ci" / "external-qdrant-ha-values.yaml"))
    assert external["SGUARDO_QDRANT_URL"] == "https://qdrant.search.svc.example.com:6333"


@pytest.mark.parametrize("values", CASES)
def test_container_environment_names_settings(render: Render, values: tuple[Path, ...]) -> None:
    """The keys from the Secret (API keys) are settings too."""
    for obj in render(*values):
        if obj["kind"] not in {"Deployment", "CronJob"}:
            continue
        spec = obj["spec"].get("jobTemplate", obj)["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for variable in container.get("env", []):
                if variable["name"].startswith(PREFIX):
                    field_of(variable["name"])


def test_in_release_qdrant_key_reaches_the_service(render: Render) -> None:
    """qdrant.apiKey configures the Qdrant server; the service gets the same key."""
    secrets = by_kind(render(CHART / "ci" / "gpu-triton-values.yaml"), "Secret")
    (secret,) = [s for s in secrets if s["metadata"]["name"] == "sguardo"]
    values = yaml.safe_load((CHART / "ci" / "gpu-triton-values.yaml").read_text())
    key = base64.b64decode(secret["data"]["qdrant-api-key"]).decode()
    assert key == values["qdrant"]["apiKey"]
