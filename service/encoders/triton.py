"""Triton Inference Server encoder (tritonclient, HTTP or gRPC), for GPU fleets.

The server hosts the bundle's two ONNX graphs (see `sguardo.service.encoders.triton_repository`);
tokenisation and image preprocessing stay here, in the one shared implementation.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

import numpy as np

from sguardo.bundle.tensors import OUTPUT, PIXEL_VALUES, TEXT_INPUTS
from sguardo.service.encoders.base import EncoderError, EncoderInfo, EncoderUnavailableError

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
    """Triton through tritonclient, one client per tower.

    Triton may start after the service, or restart under it (Kubernetes schedules them
    apart): the encoder never fails for that. While the server or its models are missing it
    reports `ready = False` (/readyz answers 503), refuses inference at once with
    EncoderUnavailableError (503 + Retry-After), and a background thread reconnects with
    exponential backoff; any failed inference sends it back there.
    """

    def __init__(
        self,
        url: str,
        *,
        protocol: Protocol = "http",
        text_model: str = "sguardo_text",
        vision_model: str = "sguardo_vision",
        timeout_s: float = 30.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
    ) -> None:
        self._module = _client_module(protocol)
        self._protocol = protocol
        self._timeout_s = timeout_s
        self._url = url
        # One client per tower: the two batchers call from different threads, and the
        # HTTP client is not safe to share across threads.
        self._clients = {tower: self._make_client(url) for tower in ("text", "vision")}
        self._models = {"text": text_model, "vision": vision_model}
        self._retry = (retry_initial_s, retry_max_s)
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._reconnector: threading.Thread | None = None
        self._guard = threading.Lock()
        self.last_error = ""
        self.info = EncoderInfo(
            backend="triton",
            active_providers=[f"triton-{protocol}"],
            requested_providers=[f"triton-{protocol}"],
            target=url,
        )
        try:
            self._connect()
        except EncoderError as exc:
            logger.warning("%s; the service starts not ready and keeps retrying", exc)
            self._reconnect_in_background()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _connect(self) -> None:
        """Check that the server answers and serves both models; raises EncoderError."""
        for tower, name in self._models.items():
            try:
                ready = self._clients[tower].is_model_ready(name)
            except Exception as exc:
                self.last_error = f"Triton at {self._url} ({self._protocol}) is unreachable: {exc}"
                raise EncoderError(self.last_error) from exc
            if not ready:
                self.last_error = (
                    f"Triton at {self._url} has no ready model {name!r} for the {tower} tower; "
                    f"load it (see deploy/triton) or set SGUARDO_TRITON_{tower.upper()}_MODEL"
                )
                raise EncoderError(self.last_error)
        self._ready.set()
        logger.info("Triton encoder at %s (%s): models %s", self._url, self._protocol, self._models)

    def _reconnect_in_background(self) -> None:
        with self._guard:
            self._ready.clear()
            if self._closed.is_set() or (self._reconnector and self._reconnector.is_alive()):
                return
            self._reconnector = threading.Thread(
                target=self._reconnect, name="sguardo-triton-reconnect", daemon=True
            )
            self._reconnector.start()

    def _reconnect(self) -> None:
        delay, longest = self._retry
        while not self._closed.is_set():
            try:
                self._connect()
                return
            except EncoderError as exc:
                logger.warning("%s; next try in %.1fs", exc, delay)
            self._closed.wait(delay)
            delay = min(delay * 2, longest)

    def _unavailable(self, tower: str) -> EncoderUnavailableError:
        return EncoderUnavailableError(
            f"the {tower} encoder (Triton) is unavailable; the service reconnects by itself: "
            "retry later",
            retry_after=max(1, round(self._retry[0] * 2)),
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
        if not self._ready.is_set():
            raise self._unavailable(tower)
        try:
            result = self._clients[tower].infer(
                self._models[tower], triton_inputs, outputs=outputs, **kwargs
            )
        except Exception as exc:
            # Most likely the server went away: check it (and reconnect) in the background.
            logger.error("Triton %s inference failed: %s", tower, exc)
            self.last_error = f"Triton {tower} inference failed: {exc}"
            self._reconnect_in_background()
            raise self._unavailable(tower) from exc
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
        self._closed.set()
        if self._reconnector is not None:
            self._reconnector.join(timeout=self._timeout_s)
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # closing a dead connection is not worth a crash at shutdown
                logger.debug("closing Triton client failed", exc_info=True)
