import asyncio

import pytest

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.resilience import CircuitBreaker, ModelNotReady, PermanentError, Resilience


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
                   breaker=CircuitBreaker(threshold=3, cooldown_s=60), wait_open_s=0)

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


async def test_model_not_ready_is_retried_and_counts_against_the_circuit():
    r = Resilience("t", retries=2, backoff_initial_s=0.001, breaker=CircuitBreaker(threshold=3, cooldown_s=60),
                   wait_open_s=0)
    calls = []

    async def unloading():
        calls.append(1)
        raise ModelNotReady("Request for unknown model: 'ensemble' has no available versions")

    with pytest.raises(ModelNotReady):
        await r.call(unloading)
    assert len(calls) == 3 and r.breaker.state == "open"


async def test_waiting_calls_all_go_ahead_when_the_probe_succeeds():
    """Circuit open, the server comes back: one probe (after the on_probe hook) and every case
    waiting on the circuit proceeds at once, instead of each failing and backing off alone."""
    r = Resilience("t", retries=0, breaker=CircuitBreaker(threshold=1, cooldown_s=0.2), wait_open_s=5)
    up, events = False, []

    async def server():
        events.append("request")
        if not up:
            raise EngineUnavailable("down")
        await asyncio.sleep(0.01)
        return "ok"

    async def reconnect():
        events.append("reconnect")

    r.on_probe = reconnect
    with pytest.raises(EngineUnavailable):
        await r.call(server)
    assert r.breaker.state == "open"
    up = True
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await asyncio.gather(*(r.call(server) for _ in range(20))) == ["ok"] * 20
    assert loop.time() - t0 < 0.5  # the cool-down (0.2 s) + one probe, not 20 backoffs
    assert events[1:3] == ["reconnect", "request"] and events.count("reconnect") == 1
    assert r.stats.short_circuited == 0 and r.breaker.state == "closed"


async def test_a_waiting_call_fails_after_wait_open_s_with_a_retry_hint():
    clock_start = asyncio.get_running_loop().time()
    r = Resilience("t", retries=0, breaker=CircuitBreaker(threshold=1, cooldown_s=30), wait_open_s=0.1)

    async def down():
        raise EngineUnavailable("down")

    with pytest.raises(EngineUnavailable) as first:
        await r.call(down)
    assert 29 < first.value.retry_after_s <= 30
    with pytest.raises(EngineUnavailable, match="circuit open") as refused:
        await r.call(down)
    assert asyncio.get_running_loop().time() - clock_start >= 0.1
    assert r.stats.attempts == 1 and 29 < refused.value.retry_after_s <= 30


async def test_a_cancelled_probe_frees_the_half_open_slot():
    r = Resilience("t", retries=0, breaker=CircuitBreaker(threshold=1, cooldown_s=0.01), wait_open_s=0)

    async def down():
        raise EngineUnavailable("down")

    with pytest.raises(EngineUnavailable):
        await r.call(down)
    await asyncio.sleep(0.02)
    probe = asyncio.create_task(r.call(lambda: asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await r.call(lambda: asyncio.sleep(0, "ok")) == "ok"
