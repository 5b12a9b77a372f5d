"""Per-case work scheduling, independent of Faust.

Rules the worker relies on:
- one engine call in flight per case: work for a case is serialized;
- a case notified while in flight is marked dirty and runs again right after, so messages that
  arrived meanwhile are coalesced into the next call;
- different cases run concurrently up to ``max_in_flight``;
- a failed run (engine down, timeout) is retried with exponential backoff and full jitter; the
  case is never dropped. Backing-off cases do not hold a concurrency slot;
- ``run_case`` may return a *finisher* (a coroutine function): it runs after the slot is
  released, still before the next run of the same case. The worker's finisher applies the
  engine result (publish, save), so a slot is held for the engine call only.

The stream agent never awaits the scheduler, so a slow engine never blocks a partition.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Awaitable, Callable

log = logging.getLogger("casenotes.scheduler")

Finisher = Callable[[], Awaitable[None]]
RunCase = Callable[[str], Awaitable["Finisher | None"]]


class CaseScheduler:
    def __init__(self, run_case: RunCase, max_in_flight: int = 8, retry_initial_s: float = 0.5,
                 retry_max_s: float = 30.0, on_error: Callable[[str, BaseException], None] | None = None,
                 on_wait: Callable[[float], None] | None = None) -> None:
        self._run_case = run_case
        self._slots = asyncio.Semaphore(max_in_flight)
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._on_error = on_error
        self._tasks: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self._on_wait = on_wait  # seconds from a notify to the run that serves it (metrics)
        self._notified: dict[str, float] = {}
        self._closed = False
        self.calls = 0  # runs holding a slot right now (engine calls in flight)

    @property
    def in_flight(self) -> int:
        """Cases with work scheduled: running, waiting for a slot, finishing or backing off."""
        return len(self._tasks)

    def busy(self, case_id: str) -> bool:
        return case_id in self._tasks

    def notify(self, case_id: str) -> None:
        """There is (possibly) new work for ``case_id``. Never blocks."""
        if self._closed:
            return
        if self._on_wait is not None and case_id not in self._notified:
            self._notified[case_id] = time.monotonic()
        if case_id in self._tasks:
            self._dirty.add(case_id)
            return
        self._tasks[case_id] = asyncio.get_running_loop().create_task(self._drive(case_id), name=f"case:{case_id}")

    async def _drive(self, case_id: str) -> None:
        failures = 0
        try:
            while not self._closed:
                self._dirty.discard(case_id)
                try:
                    async with self._slots:
                        since = self._notified.pop(case_id, None)
                        if since is not None:
                            self._on_wait(time.monotonic() - since)  # type: ignore[misc]
                        self.calls += 1
                        try:
                            finish = await self._run_case(case_id)
                        finally:
                            self.calls -= 1
                    if finish is not None:
                        await finish()
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # engine outage, timeout, bug: keep the case, retry later
                    failures += 1
                    delay = random.uniform(0, min(self._retry_max, self._retry_initial * 2 ** (failures - 1)))
                    log.warning("case %s: note-taking failed (%s: %s); retry %d in %.1fs",
                                case_id, type(exc).__name__, exc, failures, delay)
                    if self._on_error:
                        self._on_error(case_id, exc)
                    await asyncio.sleep(delay)
                    continue
                if case_id not in self._dirty:
                    break
        finally:
            self._tasks.pop(case_id, None)
            self._dirty.discard(case_id)
            self._notified.pop(case_id, None)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self, timeout: float | None = None) -> None:
        """Wait until nothing is in flight (tests, offline runs)."""
        async def _wait() -> None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        await asyncio.wait_for(_wait(), timeout)
