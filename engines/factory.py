"""The engine and classifier registries: the one place that names them.

To add a summarization engine: implement ``casenotes.engines.base.SummarizationEngine`` (with a
``from_settings(settings)`` class method) and add one ``Entry`` to ``ENGINE_REGISTRY`` below.
To add a relevance classifier: implement ``RelevanceClassifier`` and add one to
``CLASSIFIER_REGISTRY``. Everything else reads these registries: the settings' help and
validation (``CASENOTES_ENGINE``, ``CASENOTES_CLASSIFIER``), the CLI choices (``take-notes``,
``eval run``, ``classify``), the worker and the benchmarks.

Imports are lazy (``"module:Class"`` strings) so a worker using the extractive engine never
imports tritonclient, and one using the passthrough classifier never loads onnxruntime. This
module imports nothing heavy, so ``casenotes.settings`` can read the names from it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casenotes.engines.base import RelevanceClassifier, SummarizationEngine
    from casenotes.settings import Settings


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:Class"; the class has from_settings(settings), or takes no arguments
    help: str

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, settings: "Settings") -> Any:
        cls = self.load()
        from_settings = getattr(cls, "from_settings", None)
        return from_settings(settings) if from_settings is not None else cls()


class Registry:
    def __init__(self, kind: str, setting: str, *entries: Entry) -> None:
        self.kind, self.setting = kind, setting
        self._entries = {e.name: e for e in entries}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"{self.setting}={name!r}: unknown {self.kind}; choose one of "
                             f"{', '.join(self.names)}") from None

    def build(self, name: str, settings: "Settings") -> Any:
        return self.get(name).build(settings)


ENGINE_REGISTRY = Registry(
    "summarization engine", "CASENOTES_ENGINE",
    Entry("extractive", "casenotes.engines.extractive:ExtractiveEngine",
          "dialogue-act driven extractive note-taker (CPU, no model server)"),
    Entry("triton", "casenotes.engines.llm.triton:TritonEngine",
          "an LLM on Triton (TensorRT-LLM ensemble interface)"),
    Entry("openai", "casenotes.engines.llm.openai:OpenAIEngine",
          "any OpenAI-compatible chat-completions server"),
)

CLASSIFIER_REGISTRY = Registry(
    "relevance classifier", "CASENOTES_CLASSIFIER",
    Entry("onnx", "casenotes.engines.relevance.onnx_classifier:OnnxRelevanceClassifier",
          "the bundled (or CASENOTES_CLASSIFIER_MODEL) ONNX classifier"),
    Entry("passthrough", "casenotes.engines.relevance.passthrough:PassthroughClassifier",
          "keeps every bullet, no label (tests, benchmarks)"),
)

#: Names, in registry order (kept for callers of the earlier tuples).
ENGINES = ENGINE_REGISTRY.names
CLASSIFIERS = CLASSIFIER_REGISTRY.names


def make_engine(settings: "Settings") -> "SummarizationEngine":
    return ENGINE_REGISTRY.build(settings.engine, settings)


def make_classifier(settings: "Settings") -> "RelevanceClassifier":
    return CLASSIFIER_REGISTRY.build(settings.classifier, settings)
