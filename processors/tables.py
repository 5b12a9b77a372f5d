"""Tables (RocksDB, backed by compacted changelog topics) and the ``CaseStore`` over them.

* ``case-state``: case id -> ``CaseState.to_bytes()`` (bounded, <= 512 KB; raw bytes, so the
  record is serialised once, by the state itself, and never re-encoded by Faust);
* ``pending-cases``: case id -> partition, for cases with messages not yet covered by notes
  (scanned by a timer to resume work after a crash, restart or rebalance). An entry is written
  when a case becomes pending and removed by that timer's sweep once the case has stayed
  covered for ``PENDING_IDLE_S``, not on every result: an active case would otherwise write an
  entry and its tombstone for every message. A leftover entry only makes a resume find nothing
  to do;
* ``inflight-results``: case id -> a note result being published (re-applied after a crash).
  Once applied, the entry is remembered as done and its tombstone is written by the sweep unless
  the case's next result overwrites it first (no tombstone per result). A done entry is hidden
  from ``inflight_get``; were it re-applied after a crash, a stale result changes nothing
  (``CaseState.apply_result``).

Table writes need Faust's "current event" (it names the partition of the RocksDB store and the
changelog). Inside the agent there is one; engine results are applied from the scheduler's task
instead (one local hop, no Kafka round trip), so the store sets an event for the case's partition
there. The partition is the one the case's input arrives on (kept in ``pending-cases``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

from faust.streams import _current_event, current_event

from casenotes.settings import Settings
from casenotes.state import CaseState

#: Decoded states kept in memory (bounded by their record sizes): a message then costs no JSON decode.
CACHE_BYTES = 64 * 1024 * 1024
#: How long a case's changelog writes may stay unacknowledged before the producer is flushed.
ACK_WAIT_S = 10.0

log = logging.getLogger("casenotes.tables")
#: A covered case's pending entry is removed once the case has stayed covered this long (a case
#: with a message every few seconds would otherwise write an entry and a tombstone per message).
PENDING_IDLE_S = 30.0
#: A done in-flight entry not overwritten by the case's next result for this long gets its tombstone.
INFLIGHT_TOMBSTONE_AFTER_S = 10.0


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


def rebalance_epoch(app: Any) -> int:
    """Faust's count of rebalances started, or 0 while one is in progress (or unknown). Used
    instead of the consumer group generation, which the embedded broker (tansu) leaves at 0."""
    if getattr(app, "rebalancing", True):
        return 0
    count = getattr(app, "rebalancing_count", 0)
    return count if isinstance(count, int) and count > 0 else 0


class TableStore:
    """The worker's ``CaseStore``: the tables above plus a cache of decoded states.

    The cache is dropped by the handler after a failed change. It is trusted without reading
    the table while the rebalance epoch it was filled in is still current (``rebalance_epoch``:
    only this worker can have written the case's partition since, as moving a partition away
    and back takes rebalances); otherwise, or when the epoch is unknown (0: during a rebalance,
    before the first one, outside Faust), it is validated against the stored bytes (another
    worker may have owned the partition meanwhile). The same rule spares the reads of pending
    entries and in-flight results this worker wrote itself.
    """

    def __init__(self, tables: Tables, cache_bytes: int = CACHE_BYTES, generation: Any = lambda: 0,
                 flush: Any = None) -> None:
        self.t = tables
        self.generation = generation  # () -> the rebalance epoch (<= 0: unknown)
        self.flush = flush  # async () -> every buffered record acked (the producer's flush)
        # case -> (record bytes, decoded state, generation when stored, partition)
        self._cache: OrderedDict[str, tuple[bytes, CaseState, int, int]] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self.last_record_bytes = 0
        # Changelog records of each case not yet acknowledged by the broker (see ``acked``).
        self._unacked: dict[str, set[asyncio.Future]] = {}
        self._sink: list[asyncio.Future] | None = None
        # In-flight entries written by this worker (case -> bytes) and those applied since
        # (case -> (partition, bytes, when)): their tombstones are written lazily (``sweep``).
        self._inflight_written: dict[str, bytes] = {}
        self._inflight_done: dict[str, tuple[int, bytes, float, int]] = {}
        # Pending entries this worker wrote: case -> (partition, generation).
        self._pending_written: dict[str, tuple[int, int]] = {}
        # Covered cases that still have a pending entry: case -> when a sweep first saw them so.
        self._covered_since: dict[str, float] = {}
        for table in (tables.case_state, tables.pending, tables.inflight):
            self._track(table)

    def _track(self, table: Any) -> None:
        """Keep the future of every changelog record ``table`` sends while a write is collected."""
        send_changelog = table.send_changelog

        def tracked(*args: Any, **kwargs: Any) -> Any:
            fut = send_changelog(*args, **kwargs)
            if self._sink is not None and fut is not None:
                self._sink.append(fut)
            return fut
        table.send_changelog = tracked

    @contextmanager
    def at(self, partition: int, case_id: str | None = None) -> Iterator[None]:
        """Table writes for ``partition`` (outside the agent: a stand-in event); with
        ``case_id``, their changelog records are remembered until the broker acks them."""
        sink: list[asyncio.Future] = []
        self._sink = sink if case_id is not None else None
        try:
            if current_event() is not None:
                yield
            else:
                event = _LocalEvent(self.t.source_topic, partition)
                token = _current_event.set(weakref.ref(event))
                try:
                    yield
                finally:
                    _current_event.reset(token)
        finally:
            self._sink = None
            if sink and case_id is not None:
                pending = self._unacked.setdefault(case_id, set())
                for fut in sink:
                    pending.add(fut)
                    fut.add_done_callback(lambda f, c=case_id: self._acked_one(c, f))

    def _acked_one(self, case_id: str, fut: asyncio.Future) -> None:
        pending = self._unacked.get(case_id)
        if pending is not None:
            pending.discard(fut)
            if not pending:
                del self._unacked[case_id]

    def unacked(self, case_id: str) -> int:
        return len(self._unacked.get(case_id, ()))

    async def acked(self, case_id: str) -> None:
        """Wait until every changelog record written so far for ``case_id`` is acknowledged.

        The result path calls this instead of a full producer flush: it waits for this case's
        own writes only (state, pending set, in-flight result), never for other cases'. Outside
        the stream no input offset stands behind these writes, so they must be durable before
        notes that depend on them go out (in-flight entry) and before the result counts as done
        (state), or a crash could roll the case back behind notes already published.
        """
        pending = self._unacked.get(case_id)
        if not pending:
            return
        done, late = await asyncio.wait(list(pending), timeout=ACK_WAIT_S)
        for fut in done:
            fut.result()  # a failed write raises here: the caller retries the change
        if late and self.flush is not None:
            # Liveness: a changelog future Faust never resolves (seen ~1 run in 6 of the soak
            # test, after kills) must not hang the case or the stream forever. A full producer
            # flush makes every buffered record durable, which is all the wait was for.
            log.warning("case %s: %d changelog writes not acked after %.0f s; flushing the producer",
                        case_id, len(late), ACK_WAIT_S)
            await self.flush()
            for fut in late:
                pending.discard(fut)
            if not pending:
                self._unacked.pop(case_id, None)
        elif late:
            await asyncio.gather(*late)

    def _current(self) -> int:
        """The generation if known (> 0), else 0: nothing cached is trusted without a read."""
        gen = self.generation()
        return gen if gen and gen > 0 else 0

    def load(self, case_id: str, partition: int) -> CaseState | None:
        hit = self._cache.get(case_id)
        gen = self._current()
        if hit is not None and gen and hit[2] == gen and hit[3] == partition:
            self._cache.move_to_end(case_id)
            return hit[1]
        with self.at(partition):
            raw = self.t.case_state.get(case_id)
        if raw is None:
            self.forget(case_id)
            return None
        if isinstance(raw, str):
            raw = raw.encode()
        if hit is not None and hit[0] == raw:
            self._remember(case_id, raw, hit[1], partition, gen)
            return hit[1]
        state = CaseState.from_bytes(raw)
        self._remember(case_id, raw, state, partition, gen)
        return state

    def save(self, state: CaseState, partition: int) -> None:
        data = state.to_bytes()
        self.last_record_bytes = len(data)
        case_id = state.case_id
        gen = self._current()
        with self.at(partition, case_id):
            self.t.case_state[case_id] = data
            # A covered case keeps its entry: ``sweep`` removes it once the case stays covered.
            if state.pending and (not gen or self._pending_written.get(case_id) != (partition, gen)):
                if self.t.pending.get(case_id) != partition:
                    self.t.pending[case_id] = partition
                if gen:
                    self._pending_written[case_id] = (partition, gen)
        self._remember(case_id, data, state, partition, gen)

    def _remember(self, case_id: str, data: bytes, state: CaseState, partition: int, gen: int) -> None:
        self.forget(case_id)
        self._cache[case_id] = (data, state, gen, partition)
        self._cache_bytes += len(data)
        while self._cache_bytes > self._cache_limit and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old[0])

    def forget(self, case_id: str) -> None:
        hit = self._cache.pop(case_id, None)
        if hit is not None:
            self._cache_bytes -= len(hit[0])

    def partition_of(self, case_id: str) -> int | None:
        hit = self._cache.get(case_id)
        if hit is not None:
            return hit[3]  # a case's partition never changes (its key's murmur2, checked at intake)
        return self.t.pending.get(case_id)

    def pending_cases(self) -> list[str]:
        """Cases with a pending-cases entry (some may be covered already: see ``sweep``)."""
        return list(self.t.pending.keys())

    def sweep(self, owns: Any = lambda partition: True, busy: Any = lambda case_id: False,
              now: float | None = None) -> list[str]:
        """The resume timer's pass: returns the cases that are really pending; removes the
        pending entries of cases covered (and not busy) for ``PENDING_IDLE_S``, and writes
        the tombstones of in-flight entries applied more than ``INFLIGHT_TOMBSTONE_AFTER_S`` ago.
        Only partitions this worker ``owns`` are written to (a standby's copy is not ours)."""
        now = time.monotonic() if now is None else now
        pending: list[str] = []
        covered_since: dict[str, float] = {}
        for case_id, partition in list(self.t.pending.items()):
            if partition is None or busy(case_id) or not owns(partition):
                pending.append(case_id)
                continue
            state = self.load(case_id, partition)
            if state is not None and state.pending:
                pending.append(case_id)
            else:
                since = self._covered_since.get(case_id, now)
                if now - since < PENDING_IDLE_S:
                    covered_since[case_id] = since
                    continue
                self._pending_written.pop(case_id, None)
                with self.at(partition, case_id):
                    if self.t.pending.get(case_id) is not None:
                        del self.t.pending[case_id]
        self._covered_since = covered_since
        for case_id, (partition, raw, when, _) in list(self._inflight_done.items()):
            if now - when < INFLIGHT_TOMBSTONE_AFTER_S or busy(case_id):
                continue
            del self._inflight_done[case_id]
            if owns(partition):
                with self.at(partition, case_id):
                    if self._inflight_raw(case_id) == raw:
                        del self.t.inflight[case_id]
        return pending

    def _inflight_raw(self, case_id: str) -> bytes | None:
        raw = self.t.inflight.get(case_id)
        return raw.encode() if isinstance(raw, str) else raw

    def inflight_get(self, case_id: str, partition: int) -> dict[str, Any] | None:
        done = self._inflight_done.get(case_id)
        gen = self._current()
        if done is not None and gen and done[3] == gen:
            return None  # this worker applied it in this generation; tombstone pending (``sweep``)
        with self.at(partition):
            raw = self._inflight_raw(case_id)
        if not raw:
            return None
        if done is not None and done[1] == raw:
            return None  # applied already; its tombstone is pending (``sweep``)
        return json.loads(raw)

    def inflight_put(self, case_id: str, result: dict[str, Any], partition: int) -> None:
        data = json.dumps(result, ensure_ascii=False).encode()
        self._inflight_done.pop(case_id, None)
        self._inflight_written[case_id] = data
        with self.at(partition, case_id):
            self.t.inflight[case_id] = data

    def inflight_del(self, case_id: str, partition: int) -> None:
        data = self._inflight_written.pop(case_id, None)
        if data is not None:
            # Written by this worker, applied now: remembered as done, tombstone later (or never,
            # if the case's next result overwrites it first).
            self._inflight_done[case_id] = (partition, data, time.monotonic(), self._current())
            return
        with self.at(partition, case_id):
            if self.t.inflight.get(case_id) is not None:
                del self.t.inflight[case_id]

    def all_states(self) -> Iterator[CaseState]:
        for raw in list(self.t.case_state.values()):
            if raw is not None:
                yield CaseState.from_bytes(raw)

    def get_state(self, case_id: str) -> CaseState | None:
        raw = self.t.case_state.get(case_id)
        return CaseState.from_bytes(raw) if raw is not None else None
