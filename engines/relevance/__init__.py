"""Relevance classification of proposed note bullets: data split, e5 conversion, training,
ONNX export, serving (``OnnxRelevanceClassifier``), evaluation."""
from __future__ import annotations

from typing import TYPE_CHECKING

from casenotes.engines.factory import CLASSIFIER_REGISTRY, CLASSIFIERS

if TYPE_CHECKING:
    from casenotes.engines.base import RelevanceClassifier
    from casenotes.settings import Settings

__all__ = ["CLASSIFIERS", "make_classifier"]


def make_classifier(settings: "Settings") -> "RelevanceClassifier":
    """The classifier named by ``CASENOTES_CLASSIFIER`` (the registry is in
    ``casenotes.engines.factory``; imports are lazy: passthrough never loads onnxruntime)."""
    return CLASSIFIER_REGISTRY.build(settings.classifier, settings)
