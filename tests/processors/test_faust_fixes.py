"""Buffered records survive a flow resume (processors/faust_fixes.py), with mode's real
flow-control event and queue (the ones Faust's agents use)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mode.utils.queues import FlowControlEvent, ThrowableQueue

from casenotes.processors.faust_fixes import buffered, keep_assigned_records_on_resume

OURS, THEIRS = ("events", 0), ("events", 1)


class Consumer:
    def __init__(self, assigned):
        self.assigned = set(assigned)

    def assignment(self):
        return self.assigned


def record(tp, offset):
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def _app(assigned=(OURS,)):
    flow = FlowControlEvent()
    queue = ThrowableQueue(maxsize=4096, flow_control=flow, clear_on_resume=True)  # an agent's input queue
    app = SimpleNamespace(flow_control=flow, consumer=Consumer(assigned))
    return app, queue


def test_faust_resume_alone_drops_buffered_records():
    """What the fix answers: without it, the records are gone (the soak-test stall)."""
    app, queue = _app()
    queue.put_nowait(record(OURS, 7))
    app.flow_control.resume()
    assert queue.qsize() == 0


async def test_records_of_assigned_partitions_are_kept_in_order():
    app, queue = _app()
    keep_assigned_records_on_resume(app)
    for offset in (5, 6, 7):
        queue.put_nowait(record(OURS, offset))
    assert buffered(app.flow_control) == 3
    app.flow_control.resume()
    got = [queue.get_nowait().message.offset for _ in range(queue.qsize())]
    assert got == [5, 6, 7] and app.records_kept_on_resume == 3


async def test_records_of_partitions_no_longer_assigned_are_dropped():
    app, queue = _app()
    keep_assigned_records_on_resume(app)
    queue.put_nowait(record(THEIRS, 3))
    queue.put_nowait(record(OURS, 4))
    app.flow_control.resume()
    assert [queue.get_nowait().message.tp for _ in range(queue.qsize())] == [OURS]


async def test_a_waiting_agent_is_woken_by_kept_records():
    app, queue = _app()
    keep_assigned_records_on_resume(app)
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue._queue.append(record(OURS, 1))  # queued without waking the getter, as if mid-recovery
    app.flow_control.resume()
    got = await asyncio.wait_for(waiter, 1)
    assert got.message.offset == 1


def test_installing_twice_wraps_once():
    app, queue = _app()
    keep_assigned_records_on_resume(app)
    keep_assigned_records_on_resume(app)
    queue.put_nowait(record(OURS, 1))
    app.flow_control.resume()
    assert queue.qsize() == 1
