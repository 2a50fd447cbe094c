"""Request and response bodies. Images travel as base64 in JSON, or as files in multipart."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

Base64Image = str
ImageId = Annotated[
    UUID, Field(description="an image id (a UUID; any case, braces or urn:uuid: accepted)")
]

# Filters: what the store can match, said in the schema so clients (and fuzzers) know it.
# Keys are payload paths: letters, digits, '_' and '-', with '.' for nested objects.
FILTER_KEY_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
MAX_FILTERS = 16
MAX_FILTER_VALUES = 64
FilterKey = Annotated[str, Field(pattern=FILTER_KEY_PATTERN, max_length=64)]
FilterText = Annotated[StrictStr, Field(max_length=1000)]
FilterInt = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
_FILTER_VALUE: TypeAdapter[Any] = TypeAdapter(
    FilterText
    | FilterInt
    | StrictBool
    | Annotated[list[FilterText], Field(min_length=1, max_length=MAX_FILTER_VALUES)]
    | Annotated[list[FilterInt], Field(min_length=1, max_length=MAX_FILTER_VALUES)]
)


def _filter_value(value: Any) -> Any:
    # One plain message instead of pydantic's five (one per member of the union).
    try:
        return _FILTER_VALUE.validate_python(value, strict=True)
    except ValidationError:
        raise ValueError(
            "a filter value must be a string (up to 1000 characters), a 64-bit integer, a "
            f"boolean, or a list of 1 to {MAX_FILTER_VALUES} strings or of 1 to "
            f"{MAX_FILTER_VALUES} integers"
        ) from None


FilterValue = Annotated[
    Any, AfterValidator(_filter_value), WithJsonSchema(_FILTER_VALUE.json_schema())
]
Filters = Annotated[
    dict[FilterKey, FilterValue],
    Field(max_length=MAX_FILTERS),
    # pydantic puts the key pattern in patternProperties, which lets other keys through.
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_FILTERS,
            "propertyNames": {"pattern": FILTER_KEY_PATTERN, "maxLength": 64},
            "additionalProperties": _FILTER_VALUE.json_schema(),
        }
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- /embed
def _at_least_one_of(*fields: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [f], "properties": {f: {"minItems": 1}}} for f in fields]}


class EmbedRequest(_Body):
    # The route refuses a body with nothing to embed; the schema says so too.
    model_config = ConfigDict(json_schema_extra=_at_least_one_of("texts", "images"))

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
    id: ImageId | None = Field(None, description="the id of an indexed image: more like this")
    top_k: int = Field(10, ge=1, le=1000)
    filters: Filters | None = Field(
        None,
        description='payload equality filters, e.g. {"album": "mare"}: a string, 64-bit '
        "integer or boolean matches equal values; a list of strings or of integers matches "
        "any of them. Keys are payload paths ('.' for nested objects).",
    )
    score_threshold: float | None = Field(None, ge=-1, le=1)


class SearchHit(BaseModel):
    id: ImageId
    score: float
    payload: dict[str, Any] = Field(description="metadata, without the thumbnail bytes")
    thumbnail_url: str


class SearchResponse(BaseModel):
    model_id: str
    bundle_id: str = Field(description="the bundle that embedded the query and built the index")
    collection: str
    query: Literal["text", "image", "id"]
    hits: list[SearchHit]


# --- /images
class ImageItem(_Body):
    image: Base64Image
    filename: str = Field("", max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class IndexImagesRequest(_Body):
    images: list[ImageItem] = Field(min_length=1)


class IndexedImageOut(BaseModel):
    id: ImageId
    filename: str
    created: bool = Field(description="false: these bytes were already indexed")


class IndexImagesResponse(BaseModel):
    collection: str
    bundle_id: str
    created: int
    existing: int
    images: list[IndexedImageOut]


class ImageRecord(BaseModel):
    id: ImageId
    payload: dict[str, Any]
    thumbnail_url: str


class DeletedImage(BaseModel):
    id: ImageId
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


# --- errors
class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. validation_error, payload_too_large")
    message: str = Field(description="what was wrong and what to do (at most 1000 characters)")


class ErrorBody(BaseModel):
    error: ErrorDetail


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
    collection: str = Field(description="the alias searched")
    physical_collection: str | None = Field(
        description="the collection behind it that this bundle built (None: not usable yet)"
    )
    loaded_at: str = Field(description="when this bundle started serving (UTC)")
    pending: str | None = Field(
        None, description="a rollout waiting: why the registry's current bundle is not served"
    )
    encoder: EncoderOut
    max_batch_size: int
    max_wait_ms: float


# --- /admin
class ReloadOut(BaseModel):
    bundle_id: str = Field(description="the bundle serving after the check")
    changed: bool = Field(description="this call switched to a new bundle")
    pending: str | None = Field(description="why a newer bundle or alias target is not served")


class ReindexRequest(_Body):
    bundle: str = Field(
        description="a bundle in the registry: its id (`sguardo bundle list`) or directory",
        max_length=4096,
    )
    alias: str | None = Field(
        None, max_length=512, description="must be the service's alias (the default)"
    )


class SwapRequest(_Body):
    collection: str = Field(max_length=512, description="the physical collection to serve")
    alias: str | None = Field(None, max_length=512, description="default: the service's alias")
    force: bool = Field(False, description="swap even if the counts do not match")


class SwapOut(BaseModel):
    alias: str
    collection: str
    previous: str | None
    verified: dict[str, Any] | None
    reload: ReloadOut


# --- /localize
class LocalizeRequest(_Body):
    image: Base64Image | None = Field(None, description="the photo, base64 (or a file, multipart)")
    id: ImageId | None = Field(
        None,
        description="an indexed image, localized in its kept original (409 `original_missing` "
        "for images indexed before originals were kept)",
    )
    phrases: list[str] = Field(
        min_length=1,
        description="Italian phrases to find, e.g. 'una persona con un ombrello' (at most "
        "SGUARDO_LOCALIZE__MAX_PHRASES, default 8)",
    )


class BoxOut(BaseModel):
    left: int = Field(description="pixels from the image's left edge")
    top: int
    right: int = Field(description="exclusive")
    bottom: int = Field(description="exclusive")


class PhraseLocationOut(BaseModel):
    phrase: str
    heatmap: list[list[float]] = Field(
        description="rows × cols values in [0, 1], row 0 at the top: the phrase's score mass "
        "per cell, 1 at the peak"
    )
    box: BoxOut = Field(description="the hot region around the peak, in image pixels")
    score: float = Field(
        description="in [0, 1]: the best window's probability for the phrase against neutral "
        "prompts; comparable between phrases and images, not a calibrated confidence"
    )
    point: list[float] = Field(description="[x, y] of the heatmap's peak, in image pixels")


class LocalizeResponse(BaseModel):
    model_id: str
    width: int = Field(description="of the image as sent, upright (EXIF rotation applied)")
    height: int
    grid: list[int] = Field(description="[rows, cols] of every heatmap")
    crops: int = Field(description="windows embedded for this request (one batch)")
    method: Literal["crops", "crops+dense"] = Field(
        description="crops+dense: the heatmap also holds the photo's feature map, for bundles "
        "with a dense vision graph (CNN towers); crops: the crops alone"
    )
    dense_maps: int = Field(description="photo sizes (mirrors included) run whole for the map")
    results: list[PhraseLocationOut] = Field(description="one per phrase, in order")
