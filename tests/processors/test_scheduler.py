import asyncio

from casenotes.processors.scheduler import CaseScheduler


async def test_one_call_in_flight_per_case_and_notifications_coalesce():
    calls, active, peak = [], {}, {}
    gate = asyncio.Event()

    async def run(case_id):
        active[case_id] = active.get(case_id, 0) + 1
        peak[case_id] = max(peak.get(case_id, 0), active[case_id])
        calls.append(case_id)
        await gate.wait()
        active[case_id] -= 1

    s = CaseScheduler(run, max_in_flight=4)
    s.notify("a")
    await asyncio.sleep(0.01)
    for _ in range(5):  # five messages arrive while "a" is in flight
        s.notify("a")
    s.notify("b")
    await asyncio.sleep(0.01)
    assert calls == ["a", "b"]
    gate.set()
    await s.idle(2)
    assert calls.count("a") == 2, "the five notifications coalesce into one follow-up call"
    assert peak == {"a": 1, "b": 1}


async def test_concurrency_limit_across_cases():
    running, peak = 0, 0

    async def run(case_id):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    s = CaseScheduler(run, max_in_flight=3)
    for i in range(10):
        s.notify(f"c{i}")
    await s.idle(5)
    assert peak == 3


async def test_failures_are_retried_with_backoff_never_dropped():
    attempts = []

    async def run(case_id):
        attempts.append(case_id)
        if len(attempts) < 4:
            raise ConnectionError("engine down")

    errors = []
    s = CaseScheduler(run, retry_initial_s=0.01, retry_max_s=0.05, on_error=lambda c, e: errors.append(c))
    s.notify("x")
    await s.idle(5)
    assert len(attempts) == 4 and len(errors) == 3 and not s.busy("x")


async def test_close_cancels_in_flight_work():
    async def run(case_id):
        await asyncio.sleep(10)

    s = CaseScheduler(run)
    s.notify("x")
    await asyncio.sleep(0.01)
    await s.close()
    assert s.in_flight == 0
    s.notify("y")
    assert s.in_flight == 0
