"""Workarounds for the embedded development broker (tansu). Applied only when
``CASENOTES_EMBEDDED_BROKER=true``; none of this runs against real Kafka.

1. tansu's ListOffsets(LATEST) returns the last *batch's* base offset + 1 instead of the log
   end when that batch holds several records; Faust reads changelog end offsets that way, so
   recovery after a crash could fail (ConsistencyError) or miss updates. Fix (default,
   ``fetch-highwater``): take each end offset from a Fetch response's high watermark, which
   tansu reports correctly; producers batch normally. The former fix, one record per producer
   batch (``producer_max_batch_size=1``), is kept selectable for measurement
   (``CASENOTES_EMBEDDED_END_OFFSETS=one-record-batches``): it caps every topic partition at one
   record per produce round trip, which made the worker's own state writes its bottleneck
   (``make bench-stream``: 73 msg/s sustained at 200 offered, README "Worker performance").
2. tansu holds a Fetch for the full ``fetch.max.wait`` even when records arrive meanwhile, and
   Faust hard-codes 1500 ms: every hop through the broker would add up to 1.5 s. Fix: ask for
   short waits (this module).
3. tansu holds JoinGroup for about half the session timeout: the settings default to 6 s.
"""
from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("casenotes.embedded")

EMBEDDED_FETCH_MAX_WAIT_MS = 50
#: How long the end-offset Fetch may be held (tansu answers an all-caught-up Fetch with max
#: wait 0 with no partitions at all, so it must be > 0; it returns as soon as any has data).
END_OFFSET_FETCH_WAIT_MS = 20
END_OFFSETS_ENV = "CASENOTES_EMBEDDED_END_OFFSETS"
END_OFFSET_MODES = ("fetch-highwater", "one-record-batches")


def end_offsets_mode() -> str:
    mode = os.environ.get(END_OFFSETS_ENV, "") or END_OFFSET_MODES[0]
    if mode not in END_OFFSET_MODES:
        raise ValueError(f"{END_OFFSETS_ENV}={mode!r}: expected one of {', '.join(END_OFFSET_MODES)}")
    return mode


def app_config() -> dict:
    """Faust settings for the embedded broker (workaround 1, when measuring the former fix)."""
    return {"producer_max_batch_size": 1} if end_offsets_mode() == "one-record-batches" else {}


async def fetch_highwaters(consumer: Any, ends: dict) -> dict:
    """Correct ListOffsets end offsets (``ends``: TP -> offset) with Fetch high watermarks.

    A Fetch at the reported end returns the batch that straddles it (if any) together with the
    partition's high watermark; the true end is never below the reported one.
    """
    from aiokafka.protocol.fetch import FetchRequest

    client = consumer._client
    by_node: dict[Any, dict[str, list]] = {}
    for tp, end in ends.items():
        if end is None:
            continue
        node = client.cluster.leader_for_partition(tp)
        if node is None or node == -1:
            await client.force_metadata_update()
            node = client.cluster.leader_for_partition(tp)
        by_node.setdefault(node, {}).setdefault(tp.topic, []).append((tp.partition, max(0, end - 1), 1))
    out = dict(ends)
    for node, topics in by_node.items():
        req = FetchRequest(END_OFFSET_FETCH_WAIT_MS, 1, 1 << 20, 0, list(topics.items()))
        resp = await client.send(node, req)
        for topic, parts in resp.topics:
            for part in parts:
                partition, error_code, highwater = part[0], part[1], part[2]
                for tp in ends:
                    if tp.topic == topic and tp.partition == partition:
                        if error_code == 0 and highwater is not None and highwater > (out[tp] or 0):
                            log.debug("end offset of %s: ListOffsets %s, Fetch high watermark %s",
                                      tp, out[tp], highwater)
                            out[tp] = highwater
    return out


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
    if end_offsets_mode() == "fetch-highwater":
        original_highwaters = thread_cls._highwaters

        async def _highwaters(self: Any, partitions: Any) -> Any:
            ends = await original_highwaters(self, partitions)
            if self.consumer.in_transaction:
                return ends
            return await fetch_highwaters(self._ensure_consumer(), dict(ends))

        thread_cls._highwaters = _highwaters
    thread_cls._casenotes_patched = True
