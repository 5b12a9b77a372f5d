"""Prometheus metrics of the worker, served at ``/metrics`` on the worker's web port."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

MESSAGE_TO_NOTE = Histogram(
    "casenotes_message_to_note_seconds", "Time from a message reaching the worker to notes covering it.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
ENGINE_LATENCY = Histogram(
    "casenotes_engine_seconds", "Summarization engine call latency.", ["engine"],
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
CLASSIFIER_LATENCY = Histogram(
    "casenotes_classifier_seconds", "Relevance classifier latency per call.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5, 1), registry=REGISTRY)
BULLETS = Counter(
    "casenotes_bullets_total", "Proposed bullets by outcome (kept/dropped) and label.", ["outcome", "label"],
    registry=REGISTRY)
ENGINE_CALLS = Counter(
    "casenotes_engine_calls_total", "Note-taking calls by result (ok, skipped, error).", ["engine", "result"],
    registry=REGISTRY)
EDITS = Counter("casenotes_edits_total", "Agent edits applied, by action.", ["action"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    "casenotes_dead_letters_total", "Events sent to the dead-letter topic, by error type.", ["error_type"],
    registry=REGISTRY)
EVENTS = Counter("casenotes_events_total", "Input events processed, by kind.", ["kind"], registry=REGISTRY)
CASES_IN_FLIGHT = Gauge("casenotes_cases_in_flight", "Cases with a note-taking call in flight.", registry=REGISTRY)
CASES_PENDING = Gauge("casenotes_cases_pending", "Cases with messages not yet covered by notes.", registry=REGISTRY)
