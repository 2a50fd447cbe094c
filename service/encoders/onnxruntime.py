"""ONNX Runtime encoder with execution providers from settings (TensorRT, CUDA, CPU)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import Precision
from sguardo.bundle.tensors import DENSE_OUTPUT, OUTPUT, PIXEL_VALUES, TEXT_INPUTS
from sguardo.service.encoders.base import EncoderError, EncoderInfo

logger = logging.getLogger("sguardo.encoders")


def _provider_options(provider: str, cache_dir: Path | None) -> dict[str, Any]:
    if provider == "TensorrtExecutionProvider" and cache_dir is not None:
        # Building TensorRT engines takes minutes; keep them (SGUARDO_TRT_ENGINE_CACHE_DIR).
        return {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir)}
    return {}


def resolve_providers(requested: list[str]) -> list[str]:
    """Keep the requested providers this onnxruntime build offers, CPU always last."""
    available = set(ort.get_available_providers())
    missing = [p for p in requested if p not in available]
    if missing:
        logger.warning(
            "execution providers %s are not available in this onnxruntime build (it offers %s); "
            "install onnxruntime-gpu (the `gpu` extra) for CUDA/TensorRT",
            missing,
            sorted(available),
        )
    chosen = [p for p in requested if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntimeEncoder:
    ready = True  # in process: nothing to reconnect to

    def __init__(
        self,
        bundle: Bundle,
        *,
        precision: Precision = "fp32",
        providers: list[str] | None = None,
        intra_op_threads: int = 0,
        spinning: bool = False,
        trt_cache_dir: Path | None = None,
    ) -> None:
        requested = providers or ["CPUExecutionProvider"]
        chosen = resolve_providers(requested)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        if not spinning:
            # Idle pool threads spin by default, burning the cores the event loop needs.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        provider_args = [(p, _provider_options(p, trt_cache_dir)) for p in chosen]
        paths = bundle.onnx_path("text", precision), bundle.onnx_path("vision", precision)
        try:
            self._text = ort.InferenceSession(str(paths[0]), options, providers=provider_args)
            self._vision = ort.InferenceSession(str(paths[1]), options, providers=provider_args)
            # fp32 whatever the precision: the map is one call per photo, not the hot path.
            dense = bundle.dense_vision_path
            self._dense = (
                None
                if dense is None
                else ort.InferenceSession(str(dense), options, providers=provider_args)
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EncoderError(
                f"ONNX Runtime could not load bundle {bundle.directory}: {exc}"
            ) from exc
        active = self._text.get_providers()
        gpu_asked = [p for p in requested if p != "CPUExecutionProvider"]
        inactive = [p for p in gpu_asked if p not in active]
        if inactive:
            logger.warning(
                "requested execution providers %s are not active; running on %s", inactive, active
            )
        logger.info("ONNX Runtime active providers: %s", active)
        self.info = EncoderInfo(
            backend="onnxruntime",
            active_providers=list(active),
            requested_providers=list(requested),
            target=str(bundle.directory),
        )

    def encode_text(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = dict(zip(TEXT_INPUTS, (input_ids, attention_mask), strict=True))
        return np.asarray(self._text.run([OUTPUT], feeds)[0], dtype=np.float32)

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        feeds = {PIXEL_VALUES: pixel_values.astype(np.float32, copy=False)}
        return np.asarray(self._vision.run([OUTPUT], feeds)[0], dtype=np.float32)

    @property
    def has_dense(self) -> bool:
        return self._dense is not None

    def encode_dense(self, pixel_values: np.ndarray) -> np.ndarray:
        if self._dense is None:
            raise EncoderError("this bundle has no dense vision graph")
        feeds = {PIXEL_VALUES: pixel_values.astype(np.float32, copy=False)}
        return np.asarray(self._dense.run([DENSE_OUTPUT], feeds)[0], dtype=np.float32)

    def close(self) -> None:
        pass  # sessions free their memory when collected
