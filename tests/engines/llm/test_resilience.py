import asyncio

import pytest

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.resilience import CircuitBreaker, PermanentError, Resilience


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_backoff_has_full_jitter_within_the_cap():
    r = Resilience("t", backoff_initial_s=0.1, backoff_max_s=1.0)
    samples = [r.backoff(3) for _ in range(500)]
    assert all(0 <= s <= 0.8 for s in samples) and max(samples) > 0.6 and min(samples) < 0.2
    assert all(s <= 1.0 for s in (r.backoff(10) for _ in range(100)))


def test_breaker_opens_then_half_open_probe():
    clock = Clock()
    b = CircuitBreaker(threshold=3, cooldown_s=5, clock=clock)
    for _ in range(2):
        assert b.allow() and not b.record_failure()
    assert b.allow() and b.record_failure() and b.state == "open"
    assert not b.allow()
    clock.now = 5.0
    assert b.state == "half-open" and b.allow() and not b.allow()  # a single probe
    assert b.record_failure() and b.state == "open"  # failed probe: open again
    clock.now = 10.0
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow()


async def test_retries_then_success():
    r = Resilience("t", retries=2, backoff_initial_s=0.001)
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise EngineError("boom")
        return "ok"

    assert await r.call(flaky) == "ok"
    assert len(calls) == 3 and r.stats.retries == 2 and r.breaker.state == "closed"


async def test_permanent_error_is_not_retried():
    r = Resilience("t", retries=3, backoff_initial_s=0.001)
    calls = []

    async def bad_request():
        calls.append(1)
        raise PermanentError("400")

    with pytest.raises(PermanentError):
        await r.call(bad_request)
    assert len(calls) == 1 and r.breaker.failures == 0


async def test_timeout_and_circuit_opens():
    r = Resilience("t", timeout_s=0.05, retries=1, backoff_initial_s=0.001,
                   breaker=CircuitBreaker(threshold=3, cooldown_s=60))

    async def hang():
        await asyncio.sleep(1)

    with pytest.raises(EngineError, match="timed out after 0.05s"):
        await r.call(hang)
    assert r.stats.timeouts == 2
    with pytest.raises(EngineError):
        await r.call(hang)  # third failed attempt opens the circuit, the fourth is refused
    assert r.stats.circuit_opened == 1 and r.stats.short_circuited == 1
    with pytest.raises(EngineUnavailable, match="circuit open"):
        await r.call(hang)
    assert r.stats.attempts == 3


async def test_concurrency_limit():
    r = Resilience("t", concurrency=2)
    running, peak = 0, 0

    async def work():
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return 1

    assert sum(await asyncio.gather(*(r.call(work) for _ in range(8)))) == 8
    assert peak == 2
