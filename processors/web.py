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
from casenotes.processors.app import app
from casenotes.processors.tables import case_state
from casenotes.state import CaseState


def case_summary(state: CaseState) -> dict[str, Any]:
    return {
        "case_id": state.case_id, "messages": len(state.history) + state.trimmed, "covered": state.covered + state.trimmed,
        "pending": state.pending, "bullets": len(state.active_bullets), "proposed": state.proposed,
        "kept": state.kept, "dropped": state.dropped,
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
    )


@app.page("/cases/")
async def list_cases(web: Any, request: Any) -> Any:
    cases = [case_summary(CaseState.from_dict(v)) for v in case_state.values() if v is not None]
    return web.json({"cases": sorted(cases, key=lambda c: c["case_id"])})


@app.page("/cases/{case_id}/")
async def get_case(web: Any, request: Any, case_id: str) -> Any:
    raw = case_state.get(case_id)
    if raw is None:
        return web.json({"error": f"unknown case {case_id!r}"}, status=404)
    return web.json(case_detail(CaseState.from_dict(raw)))


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.page("/")
async def index(web: Any, request: Any) -> Any:
    page = resources.files("casenotes.processors").joinpath("notes.html").read_text(encoding="utf-8")
    return web.html(page)
