"""Workarounds for the embedded development broker (tansu). Applied only when
``CASENOTES_EMBEDDED_BROKER=true``; none of this runs against real Kafka.

1. tansu's ListOffsets(LATEST) returns the last *batch's* base offset + 1 instead of the log
   end when that batch holds several records; Faust reads changelog end offsets that way, so
   recovery after a crash could fail (ConsistencyError) or miss updates. Fix: one record per
   producer batch (``producer_max_batch_size=1``, ``app_config()``).
2. tansu holds a Fetch for the full ``fetch.max.wait`` even when records arrive meanwhile, and
   Faust hard-codes 1500 ms: every hop through the broker would add up to 1.5 s. Fix: ask for
   short waits (this module).
3. tansu holds JoinGroup for about half the session timeout: the settings default to 6 s.
"""
from __future__ import annotations

from typing import Any

EMBEDDED_FETCH_MAX_WAIT_MS = 50


def app_config() -> dict:
    """Faust settings for the embedded broker (workaround 1)."""
    return {"producer_max_batch_size": 1}


def apply() -> None:
    from faust.transport.drivers import aiokafka as driver

    thread_cls = driver.AIOKafkaConsumerThread
    if getattr(thread_cls, "_casenotes_patched", False):
        return
    original = thread_cls._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = EMBEDDED_FETCH_MAX_WAIT_MS  # read when the fetcher starts
        return consumer

    thread_cls._create_worker_consumer = _create_worker_consumer
    thread_cls._casenotes_patched = True
