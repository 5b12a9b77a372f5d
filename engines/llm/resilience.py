"""Calling a remote model without hurting it or ourselves: per-request timeout, retries with
exponential backoff and full jitter, a concurrency limit, and a circuit breaker.

Failures always end in ``EngineError`` (``EngineUnavailable`` when the server is known down or
the circuit is open): the caller keeps the case pending and retries later, it never gets an
empty answer for a failed call.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from casenotes.engines.base import EngineError, EngineUnavailable

log = logging.getLogger("casenotes.engines")
T = TypeVar("T")


class PermanentError(EngineError):
    """The server answered but refused the request (bad request, unknown model, auth): retrying
    the same request cannot help. Does not count against the circuit (the server is up)."""


@dataclass
class ResilienceStats:
    calls: int = 0
    attempts: int = 0
    retries: int = 0
    timeouts: int = 0
    failures: int = 0  # calls that ended in an error
    short_circuited: int = 0  # calls refused because the circuit was open
    circuit_opened: int = 0


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failed attempts -> after ``cooldown_s`` one
    probe is let through (half-open): success closes it, failure opens it again."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1:
            raise ValueError("circuit breaker threshold must be >= 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True  # exactly one probe at a time
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> bool:
        """Returns True when this failure (re)opened the circuit."""
        self.failures += 1
        was_probe, self.probing = self.probing, False
        if was_probe or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at = self.clock()
            return True
        return False


class Resilience:
    def __init__(self, name: str, timeout_s: float = 10.0, retries: int = 2, backoff_initial_s: float = 0.2,
                 backoff_max_s: float = 2.0, concurrency: int = 8, breaker: CircuitBreaker | None = None) -> None:
        if timeout_s <= 0 or concurrency < 1 or retries < 0:
            raise ValueError("timeout must be > 0, concurrency >= 1 and retries >= 0")
        self.name = name
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.semaphore = asyncio.Semaphore(concurrency)
        self.breaker = breaker or CircuitBreaker()
        self.stats = ResilienceStats()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, initial * 2^attempt)] spreads retry storms."""
        return random.uniform(0, min(self.backoff_max_s, self.backoff_initial_s * 2 ** attempt))

    async def call(self, fn: Callable[[], Awaitable[T]], what: str = "request") -> T:
        """Run ``fn`` (a fresh coroutine per attempt). ``fn`` should raise ``EngineUnavailable``
        for connection failures, ``PermanentError`` for refusals, ``EngineError`` otherwise."""
        self.stats.calls += 1
        last: EngineError | None = None
        for attempt in range(self.retries + 1):
            if not self.breaker.allow():
                self.stats.short_circuited += 1
                self.stats.failures += 1
                raise EngineUnavailable(f"{self.name}: circuit open after {self.breaker.failures} consecutive "
                                        f"failures (last: {last or 'earlier calls'}); next probe in "
                                        f"{self.breaker.cooldown_s:.0f}s") from last
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(self.backoff(attempt - 1))
            self.stats.attempts += 1
            try:
                async with self.semaphore:
                    result = await asyncio.wait_for(fn(), self.timeout_s)
            except PermanentError:
                self.breaker.record_success()  # the server is up and answering
                self.stats.failures += 1
                raise
            except asyncio.TimeoutError:
                self.stats.timeouts += 1
                last = EngineError(f"{self.name}: {what} timed out after {self.timeout_s}s")
            except EngineError as exc:
                last = exc
            else:
                self.breaker.record_success()
                return result
            if self.breaker.record_failure():
                self.stats.circuit_opened += 1
                log.error("%s: circuit opened after %d consecutive failures: %s", self.name,
                          self.breaker.failures, last)
            log.warning("%s: %s failed (attempt %d of %d): %s", self.name, what, attempt + 1,
                        self.retries + 1, last)
        self.stats.failures += 1
        assert last is not None
        raise last
