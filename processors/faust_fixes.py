"""A fix for a Faust race that silently stops a worker's stream after recovery.

When recovery completes, Faust (faust-streaming 0.15) seeks the stream partitions to their
committed offsets and *then* calls ``app.flow_control.resume()``, which clears every agent's
input queue. The consumer has been fetching since recovery began, so records fetched after the
seek can sit in that queue when it is cleared: they are dropped, the client's position is
already past them, and nothing seeks back (with no committed offset yet, a second seek would be
a no-op anyway). The agent never sees them, their cases stop getting notes until the next
restart, and the commit point cannot pass them. The soak test hit this in about 1 run in 5
after a SIGKILL with a backlog in the broker (one run: 420 records dropped); it is not specific
to the embedded broker. ``GET /debug/`` shows the symptom: client positions at the end of a
partition, the agent's last handled offset near its start.

Fix: a resume keeps the buffered records of partitions this worker is still assigned, in their
order, and drops only the others (what the clear is for: records of partitions a rebalance took
away). Records fetched before the recovery seek may then arrive twice; every handler is
idempotent on redelivery (message, edit and metadata ids), so that costs a re-read, never a
duplicate note. Records from an older consumer generation are still skipped by Faust's stream.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("casenotes.worker")


def buffered(flow_control: Any) -> int:
    """Records waiting in the queues that ``flow_control.resume()`` clears."""
    return sum(q.qsize() for q in list(getattr(flow_control, "_queues", ())))


def _tp(item: Any) -> Any:
    return getattr(getattr(item, "message", None), "tp", None)


def keep_assigned_records_on_resume(app: Any) -> None:
    """Wrap ``app.flow_control.resume`` (see the module docstring)."""
    flow_control = app.flow_control
    if getattr(flow_control, "_casenotes_keeps_records", False):
        return
    original = flow_control.resume

    def resume() -> None:
        try:
            assigned = set(app.consumer.assignment())
        except Exception:  # no consumer yet: nothing is buffered either
            assigned = set()
        kept = [(q, [item for item in q._queue if _tp(item) in assigned]) for q in list(flow_control._queues)]
        original()  # clears the queues
        n = 0
        for queue, items in kept:  # no await in between: nothing can be queued before these
            if items:
                queue._queue.extend(items)
                queue._wakeup_next(queue._getters)
                n += len(items)
        if n:
            app.records_kept_on_resume = getattr(app, "records_kept_on_resume", 0) + n
            log.info("flow resumed: kept %d buffered records of assigned partitions (Faust would drop them)", n)

    flow_control.resume = resume
    flow_control._casenotes_keeps_records = True
