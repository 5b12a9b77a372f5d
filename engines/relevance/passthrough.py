"""A classifier that keeps every bullet (``CASENOTES_CLASSIFIER=passthrough``).

For engines whose output is already filtered, and for debugging the engine alone: every
bullet is kept with label ``unclassified``.
"""
from __future__ import annotations

from typing import Sequence

from casenotes.model import Relevance


class PassthroughClassifier:
    name = "passthrough"
    model_version = "passthrough"

    async def start(self) -> None:
        return None

    async def classify(self, texts: Sequence[str]) -> list[Relevance]:
        return [Relevance(label="unclassified", keep=True, keep_prob=1.0) for _ in texts]

    async def close(self) -> None:
        return None
