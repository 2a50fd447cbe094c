"""Triton Inference Server encoder (tritonclient, HTTP or gRPC), for GPU fleets.

The server hosts the bundle's two ONNX graphs (see `sguardo.service.encoders.triton_repository`);
tokenisation and image preprocessing stay here, in the one shared implementation.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from sguardo.bundle.tensors import OUTPUT, PIXEL_VALUES, TEXT_INPUTS
from sguardo.service.encoders.base import EncoderError, EncoderInfo

logger = logging.getLogger("sguardo.encoders")
Protocol = Literal["http", "grpc"]


def _client_module(protocol: Protocol) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as exc:
        raise EncoderError(
            f"the Triton backend needs tritonclient[{protocol}]: pip install 'sguardo[serve]'"
        ) from exc
    return module


class TritonEncoder:
    def __init__(
        self,
        url: str,
        *,
        protocol: Protocol = "http",
        text_model: str = "sguardo_text",
        vision_model: str = "sguardo_vision",
        timeout_s: float = 30.0,
    ) -> None:
        self._module = _client_module(protocol)
        self._protocol = protocol
        self._timeout_s = timeout_s
        # One client per tower: the two batchers call from different threads, and the
        # HTTP client is not safe to share across threads.
        self._clients = {tower: self._make_client(url) for tower in ("text", "vision")}
        self._models = {"text": text_model, "vision": vision_model}
        for tower, name in self._models.items():
            try:
                ready = self._clients[tower].is_model_ready(name)
            except Exception as exc:
                raise EncoderError(f"Triton at {url} ({protocol}) is unreachable: {exc}") from exc
            if not ready:
                raise EncoderError(
                    f"Triton at {url} has no ready model {name!r} for the {tower} tower; "
                    f"load it (see deploy/triton) or set SGUARDO_TRITON_{tower.upper()}_MODEL"
                )
        logger.info("Triton encoder at %s (%s): models %s", url, protocol, self._models)
        self.info = EncoderInfo(
            backend="triton",
            active_providers=[f"triton-{protocol}"],
            requested_providers=[f"triton-{protocol}"],
            target=url,
        )

    def _make_client(self, url: str) -> Any:
        if self._protocol == "grpc":
            return self._module.InferenceServerClient(url=url)
        return self._module.InferenceServerClient(
            url=url, connection_timeout=self._timeout_s, network_timeout=self._timeout_s
        )

    def _infer(self, tower: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        module = self._module
        triton_inputs = []
        for name, array in inputs.items():
            dtype = "INT64" if array.dtype == np.int64 else "FP32"
            item = module.InferInput(name, list(array.shape), dtype)
            item.set_data_from_numpy(np.ascontiguousarray(array))
            triton_inputs.append(item)
        outputs = [module.InferRequestedOutput(OUTPUT)]
        kwargs: dict[str, Any] = {}
        if self._protocol == "grpc":
            kwargs["client_timeout"] = self._timeout_s
        try:
            result = self._clients[tower].infer(
                self._models[tower], triton_inputs, outputs=outputs, **kwargs
            )
        except Exception as exc:
            raise EncoderError(f"Triton {tower} inference failed: {exc}") from exc
        return np.asarray(result.as_numpy(OUTPUT), dtype=np.float32)

    def encode_text(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self._infer(
            "text",
            dict(
                zip(
                    TEXT_INPUTS,
                    (input_ids.astype(np.int64, copy=False), attention_mask.astype(np.int64)),
                    strict=True,
                )
            ),
        )

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        return self._infer("vision", {PIXEL_VALUES: pixel_values.astype(np.float32, copy=False)})

    def close(self) -> None:
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # closing a dead connection is not worth a crash at shutdown
                logger.debug("closing Triton client failed", exc_info=True)
