"""Pick the encoder backend the settings ask for."""

from __future__ import annotations

from sguardo.bundle.loader import Bundle
from sguardo.service.core.settings import Settings
from sguardo.service.encoders.base import Encoder


def open_encoder(settings: Settings, bundle: Bundle) -> Encoder:
    if settings.encoder_backend == "triton":
        from sguardo.service.encoders.triton import TritonEncoder

        return TritonEncoder(
            settings.triton_url,
            protocol=settings.triton_protocol,
            text_model=settings.triton_text_model,
            vision_model=settings.triton_vision_model,
            timeout_s=settings.triton_timeout_s,
        )
    from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder

    return OnnxRuntimeEncoder(
        bundle,
        precision=settings.precision,
        providers=settings.execution_providers,
        intra_op_threads=settings.intra_op_threads,
        spinning=settings.intra_op_spinning,
        trt_cache_dir=settings.trt_engine_cache_dir,
    )
