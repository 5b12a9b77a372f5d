"""What a worker is doing right now: ``GET /debug/`` (JSON), for a worker that has gone quiet.

Answers "is it consuming, and if not, why": Faust's flow and partition flags (active, paused,
buffered), the Kafka client's view of each assigned partition (position, high watermark,
paused, awaiting an offset reset, records prefetched), the scheduler's cases, and the stacks of
the asyncio tasks in the worker's loop and in the consumer's thread. It reads library
internals (the consumer thread's without locking: a debugging aid, not a metric): every probe is
guarded, so an upgrade that renames one yields ``"? (...)"``, never an error. Case ids appear;
message text does not.
(``kill -USR1 <pid>`` makes Faust's worker print thread and task stacks to stderr too.)
"""
from __future__ import annotations

import asyncio
import io
from typing import Any


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # internals differ across versions
        return f"? ({type(exc).__name__}: {exc})"


def _tps(tps: Any) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in (tps or ()))


def task_stacks(loop: asyncio.AbstractEventLoop | None, limit: int = 12) -> list[dict[str, Any]]:
    """Name, state and the innermost ``limit`` frames of every task of ``loop``."""
    if loop is None:
        return []
    out = []
    for task in asyncio.all_tasks(loop):
        buf = io.StringIO()
        task.print_stack(limit=limit, file=buf)
        out.append({"name": task.get_name(), "coro": repr(task.get_coro())[:200],
                    "stack": buf.getvalue().splitlines()[1:]})
    return sorted(out, key=lambda t: t["name"])


def faust_consumer(app: Any) -> dict[str, Any]:
    c = app.consumer
    return {
        "flow_active": _guard(lambda: c.flow_active),
        "can_resume_flow": _guard(lambda: c.can_resume_flow.is_set()),
        "assignment": _guard(lambda: _tps(c.assignment())),
        "active": _guard(lambda: _tps(c._active_partitions)),
        "paused": _guard(lambda: _tps(c._paused_partitions)),
        "buffered": _guard(lambda: _tps(c._buffered_partitions)),
        "rebalancing": _guard(lambda: app.rebalancing),
        "in_recovery": _guard(lambda: app.in_recovery),
        "recovery_completed": _guard(lambda: app.tables.recovery.completed.is_set()),
        "unacked_messages": _guard(lambda: len(c._unacked_messages)),
        # Per input partition: Faust's read and committed offsets, acked offsets awaiting commit.
        "offsets": _guard(lambda: {
            f"{tp.topic}[{tp.partition}]": {"read": c._read_offset.get(tp), "committed": c._committed_offset.get(tp),
                                             "acked_pending": len(c._acked.get(tp) or ()),
                                             "acked_min": min(c._acked[tp]) if c._acked.get(tp) else None,
                                             "gaps": repr(c._gap.get(tp))[:200] if c._gap.get(tp) else None}
            for tp in sorted(c.assignment()) if "changelog" not in tp.topic}),
    }


def kafka_client(app: Any) -> dict[str, Any]:
    """The aiokafka consumer inside Faust's consumer thread."""
    thread = app.consumer._thread
    kc = thread._consumer
    fetcher = kc._fetcher
    assignment = kc._subscription.subscription.assignment
    partitions = {}
    for tp in assignment.tps:
        st = assignment.state_value(tp)
        partitions[f"{tp.topic}[{tp.partition}]"] = {
            "position": _guard(lambda st=st: st.position if st.has_valid_position else None),
            "highwater": _guard(lambda st=st: st.highwater),
            "paused": _guard(lambda st=st: st.paused),
            "awaiting_reset": _guard(lambda st=st: st.awaiting_reset),
            "prefetched": _guard(lambda tp=tp: type(fetcher._records[tp]).__name__ if tp in fetcher._records else None),
        }
    return {
        "partitions": dict(sorted(partitions.items())),
        "fetch_tasks_pending": _guard(lambda: len(fetcher._pending_tasks)),
        "fetch_waiters": _guard(lambda: len(fetcher._fetch_waiters)),
        "fetch_routine_done": _guard(lambda: fetcher._fetch_task.done()),
        "thread_loop_tasks": _guard(lambda: task_stacks(thread.thread_loop, limit=6)),
    }


def worker_state(app: Any, runtime: Any) -> dict[str, Any]:
    scheduler = runtime.scheduler
    return {
        "runtime_started": runtime.started,
        "handled": {f"{t}[{p}]": o for (t, p), o in sorted(runtime.last_offsets.items())},
        "ready": _guard(runtime._ready),
        "scheduler": {"cases": _guard(lambda: sorted(scheduler._tasks)), "calls": scheduler.calls,
                      "dirty": _guard(lambda: sorted(scheduler._dirty))},
        "consumer": _guard(lambda: faust_consumer(app)),
        "kafka_client": _guard(lambda: kafka_client(app)),
        "loop_tasks": _guard(lambda: task_stacks(asyncio.get_running_loop())),
    }
