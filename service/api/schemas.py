"""Request and response bodies. Images travel as base64 in JSON, or as files in multipart."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Base64Image = str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- /embed
class EmbedRequest(_Body):
    texts: list[str] = Field(default_factory=list, description="Italian texts")
    images: list[Base64Image] = Field(default_factory=list, description="base64 image bytes")


class EmbedResponse(BaseModel):
    model_id: str
    bundle_id: str
    dim: int
    text_vectors: list[list[float]] = Field(description="one unit vector per text, in order")
    image_vectors: list[list[float]] = Field(description="one unit vector per image, in order")


# --- /search
class SearchRequest(_Body):
    text: str | None = Field(None, description="an Italian query")
    image: Base64Image | None = Field(None, description="a query image, base64")
    id: str | None = Field(None, description="the id of an indexed image: more like this")
    top_k: int = Field(10, ge=1, le=1000)
    filters: dict[str, Any] | None = Field(
        None, description='payload equality filters, e.g. {"album": "mare"}'
    )
    score_threshold: float | None = Field(None, ge=-1, le=1)


class SearchHit(BaseModel):
    id: str
    score: float
    payload: dict[str, Any] = Field(description="metadata, without the thumbnail bytes")
    thumbnail_url: str


class SearchResponse(BaseModel):
    model_id: str
    collection: str
    query: Literal["text", "image", "id"]
    hits: list[SearchHit]


# --- /images
class ImageItem(_Body):
    image: Base64Image
    filename: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class IndexImagesRequest(_Body):
    images: list[ImageItem] = Field(min_length=1)


class IndexedImageOut(BaseModel):
    id: str
    filename: str
    created: bool = Field(description="false: these bytes were already indexed")


class IndexImagesResponse(BaseModel):
    collection: str
    bundle_id: str
    created: int
    existing: int
    images: list[IndexedImageOut]


class ImageRecord(BaseModel):
    id: str
    payload: dict[str, Any]
    thumbnail_url: str


class DeletedImage(BaseModel):
    id: str
    deleted: bool


# --- /classify
class ClassifyRequest(_Body):
    image: Base64Image
    labels: list[str] = Field(min_length=1, description="candidate labels, in Italian")
    templates: list[str] | None = Field(
        None, description="prompt templates with one '{}'; default: Italian CLIP templates"
    )


class LabelScoreOut(BaseModel):
    label: str
    score: float
    similarity: float


class ClassifyResponse(BaseModel):
    model_id: str
    templates: list[str]
    labels: list[LabelScoreOut]


# --- health
class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]
    detail: dict[str, str] = Field(default_factory=dict)


class EncoderOut(BaseModel):
    backend: str
    active_providers: list[str]
    requested_providers: list[str]


class VersionInfo(BaseModel):
    service_version: str
    model_id: str
    bundle_id: str
    embedding_dim: int
    precision: str
    collection: str
    encoder: EncoderOut
    max_batch_size: int
    max_wait_ms: float
