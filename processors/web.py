"""HTTP on the worker's web port: notes per case (JSON), a live page, and Prometheus metrics.

Each worker serves the cases of the partitions it owns; behind a load balancer with several
workers, query each (or route by case id) — the demo and tests run a single worker.
"""
from __future__ import annotations

import statistics
from importlib import resources
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from casenotes.processors import metrics
from casenotes.state import CaseState


def case_summary(state: CaseState) -> dict[str, Any]:
    return {
        "case_id": state.case_id, "messages": state.message_count, "covered": state.covered + state.trimmed,
        "pending": state.pending, "bullets": len(state.active_bullets) + state.archived,
        "proposed": state.proposed, "kept": state.kept, "dropped": state.dropped,
        "archived": state.archived, "overflowed": state.overflowed,
        "latency_ms_p50": statistics.median(state.latencies_ms) if state.latencies_ms else None,
    }


def case_detail(state: CaseState) -> dict[str, Any]:
    return dict(
        case_summary(state),
        metadata=state.metadata.to_dict(),
        notes=[{"bullet_id": b.bullet_id, "seq": b.seq, "text": b.text, "label": b.label, "keep_prob": b.keep_prob,
                "source": b.source, "edited": b.edited, "version": b.version, "status": b.status,
                "trigger_message_id": b.trigger_message_id} for b in state.bullets],
        latencies_ms=state.latencies_ms,
        last_message_id=state.history[-1].message_id if state.history else None,
        record_bytes=len(state.to_bytes()),
    )


def register(app: Any, runtime: Any) -> list[Any]:
    store = runtime.store

    async def list_cases(web: Any, request: Any) -> Any:
        cases = [case_summary(s) for s in store.all_states()]
        return web.json({"cases": sorted(cases, key=lambda c: c["case_id"])})

    async def get_case(web: Any, request: Any, case_id: str) -> Any:
        state = store.get_state(case_id)
        if state is None:
            return web.json({"error": f"unknown case {case_id!r}"}, status=404)
        # What the engine saw on its last call for this case (prefix texts, timings): debugging aid.
        return web.json(dict(case_detail(state), last_call=runtime.recent_calls.get(case_id)))

    async def prometheus_metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def index(web: Any, request: Any) -> Any:
        page = resources.files("casenotes.processors").joinpath("notes.html").read_text(encoding="utf-8")
        return web.html(page)

    async def latency_samples(web: Any, request: Any) -> Any:
        obs = runtime.handler.observer
        return web.json({"fields": ["latency_ms", "engine_ms", "classifier_ms", "case_length"],
                         "samples": list(getattr(obs, "samples", ()))})

    async def debug_state(web: Any, request: Any) -> Any:
        from casenotes.processors.debug import worker_state

        return web.json(worker_state(app, runtime))

    return [app.page("/debug/")(debug_state), app.page("/stats/latency")(latency_samples), app.page("/cases/")(list_cases), app.page("/cases/{case_id}/")(get_case),
            app.page("/metrics")(prometheus_metrics), app.page("/")(index)]
