"""Relevance classification of proposed note bullets: data split, e5 conversion, training,
ONNX export, serving (``OnnxRelevanceClassifier``), evaluation."""
from __future__ import annotations

from casenotes.engines.base import RelevanceClassifier
from casenotes.settings import Settings

CLASSIFIERS = ("onnx", "passthrough")


def make_classifier(settings: Settings) -> RelevanceClassifier:
    """The classifier named by ``CASENOTES_CLASSIFIER`` (imports are lazy: passthrough never
    loads onnxruntime)."""
    if settings.classifier == "passthrough":
        from casenotes.engines.relevance.passthrough import PassthroughClassifier
        return PassthroughClassifier()
    if settings.classifier == "onnx":
        from casenotes.engines.relevance.onnx_classifier import OnnxRelevanceClassifier
        return OnnxRelevanceClassifier.from_settings(settings)
    raise ValueError(f"CASENOTES_CLASSIFIER={settings.classifier!r}: choose one of {', '.join(CLASSIFIERS)}")
