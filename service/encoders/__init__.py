"""Encoder backends behind one interface; `open_encoder` picks one from settings."""

from __future__ import annotations

from model.bundle.bundle import Bundle
from service.encoders.base import Encoder, EncoderError, EncoderInfo
from service.settings import Settings

__all__ = ["Encoder", "EncoderError", "EncoderInfo", "open_encoder"]


def open_encoder(settings: Settings, bundle: Bundle) -> Encoder:
    if settings.encoder_backend == "triton":
        from service.encoders.triton import TritonEncoder

        return TritonEncoder(
            settings.triton_url,
            protocol=settings.triton_protocol,
            text_model=settings.triton_text_model,
            vision_model=settings.triton_vision_model,
            timeout_s=settings.triton_timeout_s,
        )
    from service.encoders.onnxruntime import OnnxRuntimeEncoder

    return OnnxRuntimeEncoder(
        bundle,
        precision=settings.precision,
        providers=settings.execution_providers,
        intra_op_threads=settings.intra_op_threads,
        spinning=settings.intra_op_spinning,
        trt_cache_dir=settings.store_path.parent / "trt-cache",
    )
