"""The served relevance classifier: an ONNX model run by onnxruntime, no torch at serving time.

A model directory holds ``model.onnx``, ``tokenizer.json`` (``tokenizers`` library),
``labels.json`` (class names in logit order) and ``serving.json`` (max length, pad id,
ONNX input names). ``keep_prob = 1 - P(other)``; a bullet is kept when ``keep_prob >=
settings.classifier_threshold``; its label is the argmax.

Bullets from concurrent cases are batched: ``classify()`` calls arriving within a few
milliseconds share one session run (in a worker thread, so the event loop never blocks).
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from casenotes.engines.base import EngineError
from casenotes.model import LABELS, Relevance
from casenotes.settings import Settings

log = logging.getLogger(__name__)

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "model"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json", "serving.json")


class ModelNotFound(EngineError):
    pass


def resolve_model_dir(settings: Settings) -> Path:
    d = Path(settings.classifier_model) if settings.classifier_model else BUNDLED_MODEL_DIR
    missing = [f for f in REQUIRED_FILES if not (d / f).is_file()]
    if missing:
        where = "CASENOTES_CLASSIFIER_MODEL" if settings.classifier_model else "the bundled default model"
        raise ModelNotFound(
            f"relevance model directory {d} ({where}) lacks {', '.join(missing)}; build one with "
            f"`make model` (casenotes.engines.relevance.export.build_default_model) or set "
            f"CASENOTES_CLASSIFIER=passthrough")
    return d


class OnnxModel:
    """Synchronous core: texts -> class probabilities. Shared by serving, evaluation and bench."""

    def __init__(self, model_dir: Path | str, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int = 2):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.labels: list[str] = json.loads((self.model_dir / "labels.json").read_text())
        if "other" not in self.labels:
            raise EngineError(f"{self.model_dir}/labels.json has no 'other' class: {self.labels}")
        self._other = self.labels.index("other")
        serving = json.loads((self.model_dir / "serving.json").read_text())
        self.input_names: list[str] = serving["input_names"]
        self.max_length = int(serving["max_length"])
        self.version: str = serving.get("version", self.model_dir.name)
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=int(serving["pad_id"]), pad_token=serving["pad_token"])
        available = set(ort.get_available_providers())
        wanted = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_dir / "model.onnx"), opts, providers=wanted)
        # onnxruntime-gpu silently falls back to CPU when CUDA cannot start: report what runs.
        self.providers: list[str] = self.session.get_providers()
        log.info("relevance model %s on %s (asked for %s)", self.model_dir, self.providers, list(providers))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(list(texts))
        feeds = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                 "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        return self.session.run(["logits"], {k: feeds[k] for k in self.input_names})[0]

    def probs(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            z = self.logits(texts[i:i + batch_size]).astype(np.float64)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out.append((z / z.sum(axis=1, keepdims=True)).astype(np.float32))
        return np.concatenate(out)

    def verdict(self, p: np.ndarray, threshold: float) -> Relevance:
        keep_prob = float(1.0 - p[self._other])
        return Relevance(label=self.labels[int(p.argmax())], keep=keep_prob >= threshold,
                         keep_prob=keep_prob, probs={c: float(v) for c, v in zip(self.labels, p)})


class MicroBatcher:
    """Gathers concurrent requests for up to ``max_wait_s`` (or ``max_batch`` texts) and runs
    them as one call of ``run`` in a worker thread; each caller gets its own rows, in order."""

    def __init__(self, run: Callable[[list[str]], np.ndarray], max_batch: int = 32, max_wait_s: float = 0.001):
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self.batches_run = 0  # observable: how many session calls served the requests

    async def submit(self, texts: Sequence[str]) -> np.ndarray:
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._loop(), name="relevance-microbatcher")
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((list(texts), fut))
        return await fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            n = len(batch[0][0])
            deadline = loop.time() + self.max_wait_s
            while n < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                batch.append(item)
                n += len(item[0])
            texts = [t for ts, _ in batch for t in ts]
            try:
                rows = await asyncio.to_thread(self._run, texts)
                self.batches_run += 1
            except Exception as e:  # the caller retries: EngineError keeps the case pending
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(EngineError(f"relevance model failed: {e}"))
                continue
            i = 0
            for ts, fut in batch:
                if not fut.done():
                    fut.set_result(rows[i:i + len(ts)])
                i += len(ts)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._queue is not None and not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(EngineError("relevance classifier closed"))


class OnnxRelevanceClassifier:
    name = "onnx"

    def __init__(self, model_dir: Path | str, threshold: float = 0.5,
                 providers: Sequence[str] = ("CPUExecutionProvider",), threads: int = 2,
                 max_batch: int = 32, max_wait_s: float = 0.001):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"classifier threshold {threshold} is not in [0, 1]")
        self.model = OnnxModel(model_dir, providers, threads)
        self.threshold = threshold
        self.model_version = self.model.version
        self.providers = self.model.providers
        self._batcher = MicroBatcher(lambda ts: self.model.probs(ts, batch_size=max_batch), max_batch, max_wait_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> "OnnxRelevanceClassifier":
        providers = [p.strip() for p in settings.classifier_providers.split(",") if p.strip()]
        return cls(resolve_model_dir(settings), settings.classifier_threshold, providers,
                   settings.classifier_threads, max_batch=settings.classifier_max_batch,
                   max_wait_s=settings.classifier_batch_wait_ms / 1000.0)

    @property
    def provider(self) -> str:
        """The execution provider actually running the model (first of the session's)."""
        return self.providers[0]

    async def start(self) -> None:
        # A warm-up run: the first session call allocates and would slow the first case.
        await asyncio.to_thread(self.model.probs, ["warm up"])

    async def classify(self, texts: Sequence[str]) -> list[Relevance]:
        if isinstance(texts, str):
            raise TypeError("classify() takes a sequence of texts, not one string")
        if not texts:
            return []
        rows = await self._batcher.submit(texts)
        return [self.model.verdict(p, self.threshold) for p in rows]

    async def close(self) -> None:
        await self._batcher.close()


__all__ = ["OnnxRelevanceClassifier", "OnnxModel", "MicroBatcher", "ModelNotFound", "LABELS"]
