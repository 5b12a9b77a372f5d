"""Calling a remote model without hurting it or ourselves: per-request timeout, retries with
exponential backoff and full jitter, a concurrency limit, and a circuit breaker.

Failures always end in ``EngineError`` (``EngineUnavailable`` when the server is known down or
the circuit is open): the caller keeps the case pending and retries later, it never gets an
empty answer for a failed call.

Recovery is meant to be fast for every case at once, not one backoff per case: while the circuit
is open a call waits (up to ``wait_open_s``) for the outcome of the next half-open probe instead
of failing at once, so when the probe succeeds every waiting case goes ahead immediately. Before
the probe the ``on_probe`` hook runs: engines use it to reconnect (a gRPC channel caches its
connection failure and keeps failing for seconds after the server is back). A failure that ends
a call carries ``retry_after_s``, the time to the next probe, for the caller's own retry timer.
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


class ModelNotReady(EngineUnavailable):
    """The server is up but the model is loading, unloading or failed to load (Triton answers
    NOT_FOUND "has no available versions" / "is not at ready state"). Transient: retried, and a
    failure for the circuit (the model cannot answer, however promptly the server refuses)."""


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

    def until_probe(self) -> float:
        """Seconds until a probe may be let through (0 when closed or already due)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self.clock())

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
                 backoff_max_s: float = 2.0, concurrency: int = 8, breaker: CircuitBreaker | None = None,
                 wait_open_s: float | None = None, on_probe: Callable[[], Awaitable[None]] | None = None) -> None:
        if timeout_s <= 0 or concurrency < 1 or retries < 0:
            raise ValueError("timeout must be > 0, concurrency >= 1 and retries >= 0")
        self.name = name
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.semaphore = asyncio.Semaphore(concurrency)
        self.breaker = breaker or CircuitBreaker()
        #: How long a call waits for the circuit to close; default: one cool-down plus one probe.
        self.wait_open_s = self.breaker.cooldown_s + timeout_s if wait_open_s is None else wait_open_s
        #: Runs before each half-open probe (reconnect a channel that cached its failure).
        self.on_probe = on_probe
        self.stats = ResilienceStats()
        self._changed = asyncio.Event()  # set (and replaced) on every breaker outcome

    def _record(self, ok: bool) -> bool:
        opened = False
        if ok:
            self.breaker.record_success()
        else:
            opened = self.breaker.record_failure()
        self._changed.set()  # wake the calls waiting for this outcome
        self._changed = asyncio.Event()
        return opened

    async def _admit(self, last: EngineError | None) -> bool:
        """Wait until the breaker lets this attempt through; True when it is the probe. Raises
        EngineUnavailable (with ``retry_after_s``) when the circuit stays open for wait_open_s."""
        deadline = time.monotonic() + self.wait_open_s
        while True:
            was_open = self.breaker.opened_at is not None
            if self.breaker.allow():
                return was_open
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stats.short_circuited += 1
                exc = EngineUnavailable(f"{self.name}: circuit open after {self.breaker.failures} consecutive "
                                        f"failures (last: {last or 'earlier calls'}); next probe in "
                                        f"{self.breaker.until_probe():.0f}s")
                exc.retry_after_s = self.breaker.until_probe()  # type: ignore[attr-defined]
                raise exc from last
            # Wake on the next outcome (a probe's), or when a probe is due and nobody took it.
            wait = min(remaining, self.breaker.until_probe() or remaining)
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, initial * 2^attempt)] spreads retry storms."""
        return random.uniform(0, min(self.backoff_max_s, self.backoff_initial_s * 2 ** attempt))

    async def call(self, fn: Callable[[], Awaitable[T]], what: str = "request") -> T:
        """Run ``fn`` (a fresh coroutine per attempt). ``fn`` should raise ``EngineUnavailable``
        for connection failures, ``PermanentError`` for refusals, ``EngineError`` otherwise."""
        self.stats.calls += 1
        last: EngineError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(self.backoff(attempt - 1))
            try:
                probe = await self._admit(last)
            except EngineUnavailable:
                self.stats.failures += 1
                raise
            self.stats.attempts += 1
            try:
                if probe and self.on_probe is not None:
                    await self.on_probe()
                async with self.semaphore:
                    result = await asyncio.wait_for(fn(), self.timeout_s)
            except PermanentError:
                self._record(True)  # the server is up and answering
                self.stats.failures += 1
                raise
            except asyncio.TimeoutError:
                self.stats.timeouts += 1
                last = EngineError(f"{self.name}: {what} timed out after {self.timeout_s}s")
            except EngineError as exc:
                last = exc
            except BaseException:
                if probe:  # a cancelled probe must not leave the breaker waiting for it forever
                    self.breaker.probing = False
                raise
            else:
                self._record(True)
                return result
            if self._record(False):
                self.stats.circuit_opened += 1
                log.error("%s: circuit opened after %d consecutive failures: %s", self.name,
                          self.breaker.failures, last)
            log.warning("%s: %s failed (attempt %d of %d): %s", self.name, what, attempt + 1,
                        self.retries + 1, last)
        self.stats.failures += 1
        assert last is not None
        if self.breaker.opened_at is not None:
            last.retry_after_s = self.breaker.until_probe()  # type: ignore[attr-defined]
        raise last
