"""Summarization on Triton Inference Server with the TensorRT-LLM ensemble tensor interface.

Protocols (``CASENOTES_TRITON_PROTOCOL``):
  ``grpc``      ``tritonclient.grpc.aio``; with ``CASENOTES_TRITON_STREAMING`` the model is
                decoupled and the answer is collected from ``stream_infer``;
  ``http``      ``tritonclient.http.aio``;
  ``generate``  ``POST /v2/models/<model>/generate`` (JSON) with aiohttp.

Tensors: ``text_input`` BYTES [1,1], ``max_tokens`` INT32 [1,1], optional ``temperature`` FP32,
``stop_words``/``bad_words`` BYTES [1,n], ``exclude_input_in_output`` BOOL, ``stream`` BOOL (streaming
only); output ``text_output``.
The prompt is a completion text ending with the answer header and the accepted bullets, so the
model continues the list (see ``prompt.py``); an echoed prompt is stripped.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Sequence

import aiohttp
import numpy as np

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.engine import LLMOptions, PrefixPromptEngine
from casenotes.engines.llm.prompt import Prompt
from casenotes.engines.llm.resilience import ModelNotReady, PermanentError

PROTOCOLS = ("grpc", "http", "generate")
#: Stop when the model closes the notes, starts a new section or forges a conversation turn.
DEFAULT_STOP_WORDS = ("</notes>", "<turn", "</turn>", "###")

_PERMANENT = {"StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND", "StatusCode.UNIMPLEMENTED",
              "StatusCode.UNAUTHENTICATED", "StatusCode.PERMISSION_DENIED", "StatusCode.FAILED_PRECONDITION",
              "400", "401", "403", "404", "422"}
_DOWN = {"StatusCode.UNAVAILABLE", "502", "503", "504"}
_OVERLOADED = {"StatusCode.RESOURCE_EXHAUSTED", "429"}
#: What Triton says while a model is loading, unloading or failed to load (NOT_FOUND / 400 over
#: HTTP, yet transient): "Request for unknown model: 'm' has no available versions", "... version 1
#: is not at ready state". A name that was never loaded says "... is not found": permanent.
_MODEL_NOT_READY = ("no available versions", "not at ready state", "is not ready", "is loading",
                    "is unloading", "being loaded", "being unloaded")
_CONNECTION = ("failed to connect", "connection refused", "connection reset", "socket closed", "unavailable")


def classify_error(status: str, message: str) -> type[EngineError]:
    """The engine error a Triton answer means, from its status (gRPC ``StatusCode.X`` or HTTP
    code) and message: what decides is whether retrying later can succeed, not the status alone."""
    msg = message.lower()
    if any(p in msg for p in _MODEL_NOT_READY):
        return ModelNotReady
    if status in _DOWN or any(p in msg for p in _CONNECTION):
        return EngineUnavailable
    if status in _PERMANENT:
        return PermanentError
    return EngineError  # overloaded, deadline exceeded, internal: transient, retried


class TritonEngine(PrefixPromptEngine):
    name = "triton"

    def __init__(self, url: str, model: str = "ensemble", protocol: str = "grpc", streaming: bool = False,
                 options: LLMOptions | None = None, temperature: float | None = None,
                 stop_words: Sequence[str] = DEFAULT_STOP_WORDS, bad_words: Sequence[str] = (),
                 exclude_input_in_output: bool = True) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"CASENOTES_TRITON_PROTOCOL={protocol!r}: choose one of {', '.join(PROTOCOLS)}")
        if streaming and protocol != "grpc":
            raise ValueError("CASENOTES_TRITON_STREAMING needs CASENOTES_TRITON_PROTOCOL=grpc (decoupled models stream over gRPC)")
        if not url:
            raise ValueError("CASENOTES_TRITON_URL is empty")
        self.ssl = url.startswith("https://")
        host = url.split("://", 1)[-1].rstrip("/")
        super().__init__(options or LLMOptions(), host, model)
        self.protocol = protocol
        self.streaming = streaming
        self.temperature = temperature
        self.stop_words = tuple(stop_words)
        self.bad_words = tuple(bad_words)
        #: Ask the server not to echo the prompt (TensorRT-LLM ensembles echo it by default).
        self.exclude_input_in_output = exclude_input_in_output
        self._client: Any = None
        self._session: aiohttp.ClientSession | None = None
        self.resilience.on_probe = self.reconnect

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "TritonEngine":
        return cls(settings.triton_url, model=settings.triton_model, protocol=settings.triton_protocol,
                   streaming=settings.triton_streaming, options=LLMOptions.from_settings(settings), **kwargs)

    @property
    def http_base(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.endpoint}"

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._client is not None or self._session is not None

    def _connect(self) -> None:
        if self.protocol == "grpc":
            import tritonclient.grpc.aio as grpcclient
            self._client = grpcclient.InferenceServerClient(self.endpoint, ssl=self.ssl)
        elif self.protocol == "http":
            import tritonclient.http.aio as httpclient
            self._client = httpclient.InferenceServerClient(self.endpoint, ssl=self.ssl,
                                                            conn_timeout=self.options.timeout_s)
        else:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.options.timeout_s))

    async def reconnect(self) -> None:
        """A fresh channel for the circuit breaker's probe. A gRPC channel that failed to connect
        backs off its reconnection (up to minutes) and fails every call meanwhile with the cached
        error, even once the server is back: measured 7 s after a 6 s outage of the dev server."""
        if not self.connected:
            return  # never started: ensure_started() connects
        old = self._client or self._session
        self._connect()  # before closing the old one: a concurrent call never sees no client
        await old.close()

    async def start(self) -> None:
        self._connect()
        where = f"Triton at {self.endpoint} ({self.protocol}), model {self.model!r}"
        try:
            version = await asyncio.wait_for(self._check_ready(), self.options.timeout_s)
        except (asyncio.TimeoutError, EngineError) as exc:
            await self.close()
            if isinstance(exc, asyncio.TimeoutError):
                raise EngineUnavailable(f"{where}: no answer to the readiness check within "
                                        f"{self.options.timeout_s}s") from None
            raise type(exc)(f"{where}: {exc}") from exc
        self.model_version = f"{self.model}:{version}" if version else self.model
        self._log_start(f" over {self.protocol}{' (streaming)' if self.streaming else ''}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _check_ready(self) -> str:
        """Server live and model ready; returns the model's (latest) version."""
        if self.protocol == "generate":
            async with _ErrorMapper():
                async with self._session.get(f"{self.http_base}/v2/health/live") as r:
                    if r.status != 200:
                        raise EngineUnavailable(f"server not live (HTTP {r.status})")
                async with self._session.get(f"{self.http_base}/v2/models/{self.model}") as r:
                    if r.status != 200:
                        raise EngineUnavailable(f"model not ready (HTTP {r.status}: {(await r.text())[:200]})")
                    versions = (await r.json()).get("versions") or []
            return _latest(versions)
        async with _ErrorMapper():
            if not await self._client.is_server_live():
                raise EngineUnavailable("server is not live")
            if not await self._client.is_model_ready(self.model):
                raise EngineUnavailable("model is not loaded/ready")
            meta = await self._client.get_model_metadata(self.model)
        versions = meta.get("versions", []) if isinstance(meta, dict) else list(meta.versions)
        return _latest(versions)

    # --- generation ------------------------------------------------------------------------------
    async def _generate(self, prompt: Prompt) -> str:
        if self._client is None and self._session is None:
            raise EngineError("TritonEngine used before start()")
        text = prompt.completion_text()
        async with _ErrorMapper():
            if self.protocol == "generate":
                return await self._generate_endpoint(text)
            inputs = self._inputs(text)
            if self.streaming:
                return await self._stream(inputs)
            result = await self._client.infer(self.model, inputs)
            return _first_text(result.as_numpy("text_output"))

    def _inputs(self, text: str) -> list[Any]:
        if self.protocol == "grpc":
            from tritonclient.grpc import InferInput
        else:
            from tritonclient.http import InferInput

        def tensor(name: str, array: np.ndarray, dtype: str) -> Any:
            t = InferInput(name, list(array.shape), dtype)
            t.set_data_from_numpy(array)
            return t

        inputs = [tensor("text_input", np.array([[text.encode("utf-8")]], dtype=object), "BYTES"),
                  tensor("max_tokens", np.array([[self.options.max_tokens]], dtype=np.int32), "INT32")]
        if self.temperature is not None:
            inputs.append(tensor("temperature", np.array([[self.temperature]], dtype=np.float32), "FP32"))
        for name, words in (("stop_words", self.stop_words), ("bad_words", self.bad_words)):
            if words:
                inputs.append(tensor(name, np.array([[w.encode() for w in words]], dtype=object), "BYTES"))
        if self.exclude_input_in_output:
            inputs.append(tensor("exclude_input_in_output", np.array([[True]], dtype=bool), "BOOL"))
        if self.streaming:  # TensorRT-LLM streams only when asked, even from a decoupled model
            inputs.append(tensor("stream", np.array([[True]], dtype=bool), "BOOL"))
        return inputs

    async def _stream(self, inputs: list[Any]) -> str:
        async def requests():
            # One request, then the iterator ends: the client half-closes the stream and the
            # server closes it once the decoupled model sent its final response.
            yield {"model_name": self.model, "inputs": inputs}

        pieces = []
        async for result, error in self._client.stream_infer(requests(), stream_timeout=self.options.timeout_s):
            if error is not None:
                raise EngineError(f"streamed inference failed: {error}")
            out = result.as_numpy("text_output")
            if out is not None and out.size:
                pieces.append(_first_text(out))
        return "".join(pieces)

    async def _generate_endpoint(self, text: str) -> str:
        body: dict[str, Any] = {"text_input": text, "max_tokens": self.options.max_tokens}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.stop_words:
            body["stop_words"] = list(self.stop_words)
        if self.bad_words:
            body["bad_words"] = list(self.bad_words)
        if self.exclude_input_in_output:
            body["exclude_input_in_output"] = True
        async with self._session.post(f"{self.http_base}/v2/models/{self.model}/generate", json=body) as r:
            payload = await r.text()
            if r.status != 200:
                raise _http_error(r.status, payload)
            data = json.loads(payload)
        out = data.get("text_output")
        if isinstance(out, list):
            out = "".join(map(str, out))
        if not isinstance(out, str):
            raise EngineError(f"generate endpoint answered without text_output: {payload[:200]}")
        return out


class _ErrorMapper:
    """Translate client exceptions into EngineUnavailable / PermanentError / EngineError."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, typ: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (EngineError, asyncio.CancelledError, asyncio.TimeoutError)):
            return False
        from tritonclient.utils import InferenceServerException

        if isinstance(exc, InferenceServerException):
            status = str(exc.status() or "")
            raise _error(status, exc.message() or str(exc)) from exc
        if isinstance(exc, (aiohttp.ClientConnectionError, ConnectionError, OSError)):
            raise EngineUnavailable(f"cannot connect: {exc}") from exc
        if isinstance(exc, aiohttp.ClientError):
            raise EngineError(f"HTTP error: {exc}") from exc
        return False


_WHAT = {ModelNotReady: "model not ready", EngineUnavailable: "server unavailable",
         PermanentError: "request refused", EngineError: "inference failed"}


def _error(status: str, message: str) -> EngineError:
    kind = classify_error(status, message)
    return kind(f"{_WHAT[kind]} ({status or 'no status'}): {message}")


def _http_error(status: int, payload: str) -> EngineError:
    return _error(str(status), payload[:300])


def _first_text(array: np.ndarray | None) -> str:
    if array is None or not array.size:
        raise EngineError("Triton answered without text_output")
    value = array.reshape(-1)[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _latest(versions: Sequence[Any]) -> str:
    vs = [str(v) for v in versions]
    numeric = sorted((v for v in vs if v.isdigit()), key=int)
    return numeric[-1] if numeric else (vs[-1] if vs else "")
