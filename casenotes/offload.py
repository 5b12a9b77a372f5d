"""A CPU-bound engine off the event loop: child processes that each hold a note-taker.

The extractive engine, the text normalisation and the injection guards are pure Python: in the
worker's loop they were about a third of its CPU per message (py-spy, ``make bench-stream``),
and every other case waited behind them. With ``CASENOTES_ENGINE_PROCESSES=N`` the worker
sends each case view to one of N spawned processes, which return the drafted bullets
(:meth:`NoteTaker.draft`); the classifier stays in the worker, where it batches across cases.
LLM engines (I/O-bound, async) ignore the setting.

A child that dies (killed, out of memory) breaks the pool: the call fails like an engine
outage (the case is retried) and the next call starts a fresh pool.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from casenotes.engines.base import EngineUnavailable
from casenotes.model import CaseView
from casenotes.settings import Settings

log = logging.getLogger("casenotes.offload")

_notetaker: Any = None  # the child's note-taker (one per child process)


def _init_child(settings: Settings) -> None:
    global _notetaker
    from casenotes.notetaker import NoteTaker

    # The classifier is not needed here (the worker's batches across cases): don't load it.
    _notetaker = NoteTaker.from_settings(settings.replace(classifier="passthrough", engine_processes=0))


def _draft(view: CaseView) -> Any:
    return _notetaker.draft(view)


def _ready() -> bool:
    return _notetaker is not None


def supports(engine: Any) -> bool:
    """Engines that can run in a child process: synchronous, CPU-bound (``propose_sync``)."""
    return callable(getattr(engine, "propose_sync", None))


class EngineProcesses:
    """``await pool(view) -> Drafted``, in one of ``processes`` spawned children."""

    def __init__(self, settings: Settings, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"engine processes must be >= 1, got {processes}")
        self.settings = settings
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Faust's consumer, ONNX Runtime) by now.
        return ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_child, initargs=(self.settings,))

    async def start(self) -> None:
        """Start every child now (imports and models: about a second), not on the first case."""
        if self._pool is None:
            self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self.processes)))
        log.info("engine processes: %d", self.processes)

    async def __call__(self, view: CaseView) -> Any:
        if self._pool is None:
            self._pool = self._new_pool()
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _draft, view)
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the first caller to notice replaces it
                log.error("an engine process died (%s); starting a new pool", exc)
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise EngineUnavailable(f"engine process died: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
