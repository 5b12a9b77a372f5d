"""Prometheus metrics of the worker, served at ``/metrics`` on the worker's web port."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)

MESSAGE_TO_NOTE = Histogram(
    "casenotes_message_to_note_seconds", "Time from a message reaching the worker to notes covering it.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
ENGINE_LATENCY = Histogram(
    "casenotes_engine_seconds",
    "Summarization engine call latency, as the worker sees it (for LLM engines this includes waiting for "
    "the engine's own CASENOTES_LLM_CONCURRENCY limit; casenotes_llm_* series break it down).", ["engine"],
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
CLASSIFIER_LATENCY = Histogram(
    "casenotes_classifier_seconds", "Relevance classifier latency per call.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
RESULT_APPLY = Histogram(
    "casenotes_result_apply_seconds",
    "Engine result to state saved: waiting for the case, publishing its notes (acked), saving.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
STREAM_LAG = Histogram(
    "casenotes_stream_lag_seconds",
    "Time from a message's record timestamp to the case agent handling it (publish, broker, fetch, "
    "queueing behind earlier records of the stream).", buckets=_LATENCY_BUCKETS, registry=REGISTRY)
SCHEDULE_WAIT = Histogram(
    "casenotes_schedule_wait_seconds",
    "Time from a case being notified of new work to its engine call starting (waiting for the case's "
    "previous call and result, for a CASENOTES_MAX_CASES_IN_FLIGHT slot, or for the event loop).",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY)
STATE_BYTES = Histogram(
    "casenotes_state_record_bytes", "Size of the case-state records written (capped at 512 KB).",
    buckets=(1e3, 4e3, 16e3, 32e3, 64e3, 128e3, 192e3, 256e3, 384e3, 512e3), registry=REGISTRY)
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
CASES_IN_FLIGHT = Gauge("casenotes_cases_in_flight",
                        "Note-taking calls in flight (holding one of CASENOTES_MAX_CASES_IN_FLIGHT slots).",
                        registry=REGISTRY)
CASES_SCHEDULED = Gauge("casenotes_cases_scheduled",
                        "Cases with scheduled work: calling, waiting for a slot, applying or backing off.",
                        registry=REGISTRY)
CASES_PENDING = Gauge("casenotes_cases_pending", "Cases with messages not yet covered by notes.", registry=REGISTRY)
MODELS = Info("casenotes_models", "Engine, classifier and the onnxruntime provider actually in use.",
              registry=REGISTRY)


class EngineStatsCollector:
    """Exposes an LLM engine's own counters (``engine.stats()``) at scrape time: calls, retries,
    timeouts, circuit breaker state, prompts cut from the middle, rejected answer lines."""

    def __init__(self, engine: object) -> None:
        self.engine = engine

    def collect(self):  # type: ignore[no-untyped-def]
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self.engine.stats()  # type: ignore[attr-defined]
        name = getattr(self.engine, "name", "llm")
        counters = CounterMetricFamily("casenotes_llm_events", "LLM engine events by kind.", labels=["engine", "kind"])
        for kind, value in stats.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                counters.add_metric([name, kind], float(value))
        yield counters
        rejected = CounterMetricFamily("casenotes_llm_rejected_lines", "Answer lines rejected by the parser.",
                                       labels=["engine", "reason"])
        for reason, value in stats.get("rejected", {}).items():
            rejected.add_metric([name, reason], float(value))
        yield rejected
        state = GaugeMetricFamily("casenotes_llm_circuit_open", "1 while the LLM circuit breaker is open.",
                                  labels=["engine"])
        state.add_metric([name], 1.0 if stats.get("circuit_state") == "open" else 0.0)
        yield state


_registered: list[object] = []


def register_engine(engine: object) -> None:
    if callable(getattr(engine, "stats", None)) and not _registered:
        collector = EngineStatsCollector(engine)
        REGISTRY.register(collector)
        _registered.append(collector)


_EVENTS_MESSAGE = EVENTS.labels("message")  # bound once: ``labels()`` takes a lock and a dict lookup


class Observer:
    """The case handler's metrics hooks. Also keeps the last ``SAMPLES`` covered messages as
    (message-to-note ms, engine ms, classifier ms, case length) for ``/stats/latency`` (the
    stream benchmark reads exact percentiles there, not histogram buckets)."""

    SAMPLES = 200_000

    def __init__(self) -> None:
        from collections import deque

        self.samples: "deque[tuple[float, float, float, int]]" = deque(maxlen=self.SAMPLES)

    def message(self) -> None:
        _EVENTS_MESSAGE.inc()

    def edit(self, action: str) -> None:
        EDITS.labels(action).inc()

    def result(self, result: object, latencies_ms: list[float], case_length: int = 0) -> None:
        engine_ms = float(getattr(result, "engine_ms", 0.0))
        classifier_ms = float(getattr(result, "classifier_ms", 0.0))
        for latency in latencies_ms:
            MESSAGE_TO_NOTE.observe(latency / 1e3)
            self.samples.append((latency, engine_ms, classifier_ms, case_length))
        if latencies_ms:
            for p in result.proposals:  # type: ignore[attr-defined]
                BULLETS.labels("kept" if p.keep else "dropped", p.label or "none").inc()


def record_models(engine: object, classifier: object) -> None:
    """One info series naming what serves this worker (a CPU fallback shows up on dashboards)."""
    MODELS.info({"engine": str(getattr(engine, "name", "?")), "engine_model": str(getattr(engine, "model_version", "?")),
                 "classifier": str(getattr(classifier, "name", "?")),
                 "classifier_model": str(getattr(classifier, "model_version", "?")),
                 "classifier_provider": str(getattr(classifier, "provider", "n/a"))})
