"""Tables (RocksDB, backed by compacted changelog topics) and the ``CaseStore`` over them.

* ``case-state``: case id -> ``CaseState.to_bytes()`` (bounded, <= 512 KB; raw bytes, so the
  record is serialised once, by the state itself, and never re-encoded by Faust);
* ``pending-cases``: case id -> partition, for cases with messages not yet covered by notes
  (scanned by a timer to resume work after a crash, restart or rebalance);
* ``inflight-results``: case id -> a note result being published (re-applied after a crash).

Table writes need Faust's "current event" (it names the partition of the RocksDB store and the
changelog). Inside the agent there is one; engine results are applied from the scheduler's task
instead (one local hop, no Kafka round trip), so the store sets an event for the case's partition
there. The partition is the one the case's input arrives on (kept in ``pending-cases``).
"""
from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

from faust.streams import _current_event, current_event

from casenotes.settings import Settings
from casenotes.state import CaseState

#: Decoded states kept in memory (bounded by their record sizes): a message then costs no JSON decode.
CACHE_BYTES = 64 * 1024 * 1024


class _Message:
    __slots__ = ("topic", "partition")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


class _LocalEvent:
    """Just enough of a Faust event for table writes outside the agent."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


class Tables:
    def __init__(self, app: Any, settings: Settings, source_topic: str) -> None:
        kw = dict(default=None, partitions=settings.topic_partitions)
        self.case_state = app.Table("case-state", help="Per-case note-taking state.", **kw)
        self.pending = app.Table("pending-cases", help="Cases with messages not yet covered by notes.", **kw)
        self.inflight = app.Table("inflight-results", help="Engine results being published.", **kw)
        # Values are bytes we encode ourselves (Faust takes its serializer from the value type and
        # reads it lazily, when the store and changelog topic are first used).
        for table in (self.case_state, self.inflight):
            table.value_serializer = "raw"
        self.source_topic = source_topic


class TableStore:
    """The worker's ``CaseStore``: the tables above plus a cache of decoded states.

    The cache is validated against the stored bytes on every load (another worker may have
    owned the partition meanwhile), and dropped by the handler after a failed change.
    """

    def __init__(self, tables: Tables, cache_bytes: int = CACHE_BYTES) -> None:
        self.t = tables
        self._cache: OrderedDict[str, tuple[bytes, CaseState]] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self.last_record_bytes = 0

    @contextmanager
    def at(self, partition: int) -> Iterator[None]:
        if current_event() is not None:
            yield
            return
        event = _LocalEvent(self.t.source_topic, partition)
        token = _current_event.set(weakref.ref(event))
        try:
            yield
        finally:
            _current_event.reset(token)

    def load(self, case_id: str, partition: int) -> CaseState | None:
        with self.at(partition):
            raw = self.t.case_state.get(case_id)
        if raw is None:
            self.forget(case_id)
            return None
        if isinstance(raw, str):
            raw = raw.encode()
        hit = self._cache.get(case_id)
        if hit is not None and hit[0] == raw:
            self._cache.move_to_end(case_id)
            return hit[1]
        state = CaseState.from_bytes(raw)
        self._remember(case_id, raw, state)
        return state

    def save(self, state: CaseState, partition: int) -> None:
        data = state.to_bytes()
        self.last_record_bytes = len(data)
        case_id = state.case_id
        with self.at(partition):
            self.t.case_state[case_id] = data
            if state.pending:
                if self.t.pending.get(case_id) != partition:
                    self.t.pending[case_id] = partition
            elif self.t.pending.get(case_id) is not None:
                del self.t.pending[case_id]
        self._remember(case_id, data, state)

    def _remember(self, case_id: str, data: bytes, state: CaseState) -> None:
        self.forget(case_id)
        self._cache[case_id] = (data, state)
        self._cache_bytes += len(data)
        while self._cache_bytes > self._cache_limit and self._cache:
            _, (old, _) = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)

    def forget(self, case_id: str) -> None:
        hit = self._cache.pop(case_id, None)
        if hit is not None:
            self._cache_bytes -= len(hit[0])

    def partition_of(self, case_id: str) -> int | None:
        return self.t.pending.get(case_id)

    def pending_cases(self) -> list[str]:
        return list(self.t.pending.keys())

    def inflight_get(self, case_id: str, partition: int) -> dict[str, Any] | None:
        with self.at(partition):
            raw = self.t.inflight.get(case_id)
        return json.loads(raw) if raw else None

    def inflight_put(self, case_id: str, result: dict[str, Any], partition: int) -> None:
        with self.at(partition):
            self.t.inflight[case_id] = json.dumps(result, ensure_ascii=False).encode()

    def inflight_del(self, case_id: str, partition: int) -> None:
        with self.at(partition):
            if self.t.inflight.get(case_id) is not None:
                del self.t.inflight[case_id]

    def all_states(self) -> Iterator[CaseState]:
        for raw in list(self.t.case_state.values()):
            if raw is not None:
                yield CaseState.from_bytes(raw)

    def get_state(self, case_id: str) -> CaseState | None:
        raw = self.t.case_state.get(case_id)
        return CaseState.from_bytes(raw) if raw is not None else None
