"""Choose the summarization engine and relevance classifier from settings.

Imports are lazy so a worker using the extractive engine never imports tritonclient, and one
using the passthrough classifier never loads onnxruntime.
"""
from __future__ import annotations

from casenotes.engines.base import RelevanceClassifier, SummarizationEngine
from casenotes.settings import Settings

ENGINES = ("extractive", "triton", "openai")
CLASSIFIERS = ("onnx", "passthrough")


def make_engine(settings: Settings) -> SummarizationEngine:
    if settings.engine == "extractive":
        from casenotes.engines.extractive import ExtractiveEngine
        return ExtractiveEngine.from_settings(settings)
    if settings.engine == "triton":
        from casenotes.engines.llm.triton import TritonEngine
        return TritonEngine.from_settings(settings)
    if settings.engine == "openai":
        from casenotes.engines.llm.openai import OpenAIEngine
        return OpenAIEngine.from_settings(settings)
    raise ValueError(f"CASENOTES_ENGINE={settings.engine!r}: choose one of {', '.join(ENGINES)}")


def make_classifier(settings: Settings) -> RelevanceClassifier:
    if settings.classifier == "passthrough":
        from casenotes.engines.relevance.passthrough import PassthroughClassifier
        return PassthroughClassifier()
    if settings.classifier == "onnx":
        from casenotes.engines.relevance.onnx_classifier import OnnxRelevanceClassifier
        return OnnxRelevanceClassifier.from_settings(settings)
    raise ValueError(f"CASENOTES_CLASSIFIER={settings.classifier!r}: choose one of {', '.join(CLASSIFIERS)}")
