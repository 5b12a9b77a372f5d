"""Publish case files to the input topics (``casenotes replay``), at a realistic pace.

Also the producer side of the testing helpers: publish single messages, metadata and agent
edits exactly as an upstream system would (Avro, keyed by case id, murmur2 partitioning).
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from confluent_kafka import Producer

from casenotes.casefile import CaseFile
from casenotes.model import Message
from casenotes.schemas import make_codec
from casenotes.settings import Settings

log = logging.getLogger("casenotes.replay")


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


class Publisher:
    """Avro-encodes and produces events keyed by case id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = make_codec(settings.schema_registry_url)
        # murmur2 is what the Java client and aiokafka (the worker) use: every producer of a
        # case topic must agree, or a case's events would land on different partitions.
        self.producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "partitioner": "murmur2_random",
                                  "linger.ms": 2, "acks": "all"})
        self._errors: list[str] = []

    def _produce(self, topic: str, key: str, value: bytes) -> None:
        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                self._errors.append(str(err))
        self.producer.produce(self.settings.topic(topic), key=key.encode(), value=value, on_delivery=on_delivery)
        self.producer.poll(0)

    def metadata(self, case: CaseFile) -> None:
        md = case.metadata
        self._produce("case-metadata", case.case_id, self.codec.encode("case_metadata", {
            "case_id": case.case_id, "customer": md.customer, "agent": md.agent, "attributes": md.attributes,
            "ts": datetime.now(timezone.utc)}))

    def message(self, case_id: str, m: Message) -> None:
        self._produce("conversation-events", case_id, self.codec.encode("conversation_event", {
            "case_id": case_id, "message_id": m.message_id, "channel": m.channel, "role": m.role,
            "agent_id": m.agent_id, "text": m.text, "ts": parse_ts(m.ts), "language": m.language}))

    def edit(self, case_id: str, action: str, bullet_id: str | None = None, text: str | None = None,
             agent_id: str = "agent", edit_id: str | None = None) -> str:
        edit_id = edit_id or uuid.uuid4().hex
        self._produce("agent-edits", case_id, self.codec.encode("agent_edit", {
            "edit_id": edit_id, "case_id": case_id, "bullet_id": bullet_id, "action": action, "text": text,
            "agent_id": agent_id, "ts": datetime.now(timezone.utc)}))
        return edit_id

    def raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Produce arbitrary bytes (for poison-message tests and debugging)."""
        self.producer.produce(self.settings.topic(topic), key=key, value=value)
        self.producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        left = self.producer.flush(timeout)
        if left or self._errors:
            raise RuntimeError(f"{left} messages not delivered; errors: {self._errors[:3]}")


@dataclass(frozen=True)
class Scheduled:
    at: float  # seconds after the replay starts
    case_id: str
    message: Message


def schedule(cases: Iterable[CaseFile], speed: float = 10.0, max_gap: float = 2.0,
             stagger: float = 0.7) -> list[Scheduled]:
    """Interleave the cases' events on one timeline: each case starts ``stagger`` s after the
    previous one, and gaps between its messages are the real ones divided by ``speed``, capped
    at ``max_gap`` (speed 0 = as fast as possible)."""
    heap: list[tuple[float, int, Scheduled]] = []
    n = 0
    for i, case in enumerate(cases):
        t = i * stagger if speed else 0.0
        prev = None
        for m in case.events:
            if prev is not None and speed:
                gap = (parse_ts(m.ts) - parse_ts(prev.ts)).total_seconds() / speed
                t += min(max(gap, 0.0), max_gap)
            heapq.heappush(heap, (t, n, Scheduled(t, case.case_id, m)))
            n += 1
            prev = m
    return [heapq.heappop(heap)[2] for _ in range(len(heap))]


def replay(settings: Settings, cases: list[CaseFile], speed: float = 10.0, max_gap: float = 2.0,
           on_publish: Callable[[Scheduled], None] | None = None, stop: threading.Event | None = None) -> int:
    """Publish metadata, then every event on the schedule. Returns the number of messages sent.
    Setting ``stop`` ends the replay early (the demo does on Ctrl-C, before the broker goes)."""
    stop = stop or threading.Event()
    pub = Publisher(settings)
    for case in cases:
        pub.metadata(case)
    start = time.monotonic()
    plan = schedule(cases, speed, max_gap)
    sent = 0
    for item in plan:
        delay = item.at - (time.monotonic() - start)
        if delay > 0:
            pub.producer.poll(0)
            if stop.wait(delay):
                break
        if stop.is_set():
            break
        pub.message(item.case_id, item.message)
        sent += 1
        if on_publish:
            on_publish(item)
    if stop.is_set():
        pub.producer.flush(1.0)  # best effort: the broker may be going away
        log.info("replay stopped after %d of %d messages", sent, len(plan))
        return sent
    pub.flush()
    log.info("replayed %d messages of %d cases", len(plan), len(cases))
    return sent
