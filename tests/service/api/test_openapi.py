"""The OpenAPI document is the contract: error statuses with the one error body, ids as UUIDs,
filters as the store accepts them, and security only where a key is really asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .conftest import MakeClient

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }


def test_every_error_status_is_declared_with_the_error_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ops = _operations(schema)
    assert set(ops["POST", "/search"]["responses"]) >= {
        "400",
        "404",
        "409",
        "413",
        "415",
        "422",
        "500",
        "503",
    }
    for (method, path), op in ops.items():
        for status, response in op["responses"].items():
            if int(status) >= 400 and (method, path, status) != ("GET", "/readyz", "503"):
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (
                    method,
                    path,
                    status,
                )
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}


def test_ids_are_uuids_and_filters_say_what_they_accept(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ops = _operations(schema)
    (param,) = ops["GET", "/images/{image_id}"]["parameters"]
    assert param["schema"]["format"] == "uuid"
    body = ops["POST", "/search"]["requestBody"]["content"]["application/json"]["schema"]
    filters = body["properties"]["filters"]["anyOf"][0]
    assert filters["propertyNames"]["pattern"] and filters["maxProperties"] == 16
    kinds = [v.get("type") for v in filters["additionalProperties"]["anyOf"]]
    assert kinds == ["string", "integer", "boolean", "array", "array"]
    embed = ops["POST", "/embed"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"required": ["texts"], "properties": {"texts": {"minItems": 1}}} in embed["anyOf"]


def test_security_is_declared_only_where_a_key_is_asked_for(
    make_client: MakeClient, tmp_path: Path
) -> None:
    all_ops = _operations(make_client(store_path=tmp_path / "a").get("/openapi.json").json())
    open_ops = {k: op for k, op in all_ops.items() if not k[1].startswith("/admin/")}
    assert not any("security" in op for op in open_ops.values())
    assert not any("401" in op["responses"] for op in open_ops.values())
    # The admin endpoints always need their token.
    admin = [op for k, op in all_ops.items() if k[1].startswith("/admin/")]
    assert len(admin) == 4
    assert all("security" in op and "401" in op["responses"] for op in admin)

    keyed = make_client(api_key="chiave", store_path=tmp_path / "b")
    schema = keyed.get("/openapi.json").json()
    ops = _operations(schema)
    assert "securitySchemes" in schema["components"]
    assert "security" in ops["POST", "/images"] and "401" in ops["POST", "/images"]["responses"]
    assert "security" in ops["DELETE", "/images/{image_id}"]
    assert "security" not in ops["POST", "/search"]  # reads are open unless PROTECT_READS

    protected = make_client(api_key="k", protect_reads=True, store_path=tmp_path / "c")
    reads = _operations(protected.get("/openapi.json").json())
    assert (
        "security" in reads["POST", "/search"] and "security" in reads["GET", "/images/{image_id}"]
    )
    assert "security" not in reads["GET", "/metrics"]  # see the README: /metrics stays open
