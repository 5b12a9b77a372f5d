"""The two small interfaces every engine implements.

A *summarization engine* proposes new bullets for a case; a *relevance classifier* labels
proposed bullets. Both are async (LLM servers and GPU classifiers are remote or batched) and
both have ``start``/``close`` for connection set-up, readiness checks and teardown.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from casenotes.model import CaseView, Relevance


class EngineError(Exception):
    """The engine could not answer (down, timed out, circuit open). The work is retried later:
    callers must keep the case pending, never drop it."""


class EngineUnavailable(EngineError):
    """Raised when the engine is known to be down (connection refused, circuit breaker open)."""


@runtime_checkable
class SummarizationEngine(Protocol):
    name: str  # e.g. "extractive", "triton", "openai"
    model_version: str  # logged on every bullet it proposes

    async def start(self) -> None:
        """Connect and check readiness; raise EngineError with a clear message if not ready."""

    async def propose(self, view: CaseView) -> list[str]:
        """Return only *new* bullet texts for ``view.new_messages`` (empty: nothing new)."""

    async def close(self) -> None: ...

    # Optional: ``holds_back(view) -> bool``. True when the engine is still holding earlier
    # messages of the case to merge with what follows (the extractive engine does, for runs of
    # identifiers). The note-taker then calls the engine even for a trivial message ("thanks,
    # bye"), which may be the last of the conversation, so the held run is noted, not lost.


@runtime_checkable
class RelevanceClassifier(Protocol):
    name: str
    model_version: str

    async def start(self) -> None: ...

    async def classify(self, texts: Sequence[str]) -> list[Relevance]:
        """One verdict per text, in order."""

    async def close(self) -> None: ...
