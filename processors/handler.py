"""The case handler: every state change of a case, as "event in, effects out", free of Faust.

Its dependencies are injected: a ``CaseStore`` (state records, the pending set and in-flight
results), a ``publish`` coroutine (note changes onto the notes topic, in order, awaited until
all are acked),
an edit log, a ``notify`` callback (there is work for the scheduler) and a clock. The Faust
glue in ``agents.py`` feeds it decoded records; unit tests feed it dicts and fakes.

Guarantees it keeps (and its tests check):
* state changes of one case happen one at a time, in arrival order (a per-case lock spans a
  whole change, awaits included: an engine result applied while an edit is being logged waits);
* notes are published (acked) *before* the state that contains them is saved, and the engine
  result is saved as "in flight" before publishing, so a crash in between re-applies the very
  same result: same bullet ids, same texts, never a different bullet under an existing id;
* bad input raises ``InvalidEvent``/``EditError`` (the glue routes it to the dead-letter topic);
  ``check_intake`` runs first for every input record: non-blank ids, Kafka key equal to the
  ``case_id``, the murmur2 partition of the case (``MisroutedEvent`` otherwise), so that a bad
  record never creates, splits or blocks a case.
"""
from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from casenotes.schemas import wire
from casenotes.state import CaseState, EditError, NoteChange, NoteResult

__all__ = ["CaseHandler", "CaseStore", "EditError", "InvalidEvent", "Limits", "MemoryStore", "MisroutedEvent",
           "REQUIRED_IDS", "check_intake"]


class InvalidEvent(ValueError):
    """An input event that decodes but cannot be processed (the reason goes to the DLQ)."""


class MisroutedEvent(InvalidEvent):
    """An event whose Kafka key or partition does not match its ``case_id``: processing it would
    split the case's state across partitions (dead-lettered, never re-keyed: see schemas/README)."""


#: Ids every event of an input kind must carry, non-blank. An empty ``message_id`` would make
#: every later message of the case look like a redelivery; an empty ``case_id`` would create
#: case ""; an empty ``edit_id`` would make every later edit look already applied.
REQUIRED_IDS: dict[str, tuple[str, ...]] = {
    "message": ("case_id", "message_id"),
    "metadata": ("case_id",),
    "edit": ("edit_id", "case_id"),
}


def check_intake(kind: str, rec: dict[str, Any], key: bytes | str | None, partition: int, partitions: int = 0) -> None:
    """Validate an input record before any state is touched; raise ``InvalidEvent`` with the reason.

    ``kind``: message | metadata | edit. ``partitions``: the topic's partition count (0: do not
    check the partition, e.g. unit tests with one fake partition).
    """
    names = REQUIRED_IDS.get(kind)
    if names is None:
        raise InvalidEvent(f"unknown event kind {kind!r}")
    _check_ids(rec, *names)
    if kind == "edit" and rec.get("action") in ("edit", "delete"):
        _check_ids(rec, "bullet_id")
    case_id = rec["case_id"]
    if key is None:
        raise MisroutedEvent(f"record has no key; the key must be the UTF-8 case id {case_id[:80]!r} so that "
                             "all events of a case share a partition")
    key_text = key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)
    if key_text != case_id:
        raise MisroutedEvent(f"key {key_text[:80]!r} does not match case_id {case_id[:80]!r}; the key must be "
                             "the UTF-8 case id")
    if partitions:
        expected = wire.partition_for(case_id, partitions)
        if partition != expected:
            raise MisroutedEvent(f"case {case_id[:80]!r} arrived on partition {partition}, but murmur2 of its key "
                                 f"puts it on partition {expected} of {partitions}; producers must partition with "
                                 "murmur2 (the Java default; partitioner=murmur2_random in librdkafka)")


class CaseStore(Protocol):
    def load(self, case_id: str, partition: int) -> CaseState | None: ...
    def save(self, state: CaseState, partition: int) -> None: ...  # also keeps the pending set
    def forget(self, case_id: str) -> None: ...  # drop any cached copy (after a failed change)
    def inflight_get(self, case_id: str, partition: int) -> dict[str, Any] | None: ...
    def inflight_put(self, case_id: str, result: dict[str, Any], partition: int) -> None: ...
    def inflight_del(self, case_id: str, partition: int) -> None: ...


class EditLog(Protocol):
    async def write(self, record: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 8000
    max_history: int = 400
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    partitions: int = 0  # input topics' partition count: records on another partition are misrouted (0: no check)
    redact: str = "off"  # CASENOTES_REDACT: engine+log redacts the edit log records
    redact_keep_originals: bool = False


def now_ms() -> int:
    return int(time.time() * 1000)


class CaseHandler:
    def __init__(self, store: CaseStore, publish: Callable[[str, list[NoteChange]], Awaitable[None]], editlog: EditLog,
                 notify: Callable[[str], None], limits: Limits = Limits(), clock: Callable[[], int] = now_ms,
                 observer: Any = None) -> None:
        self.store = store
        self.publish = publish
        self.editlog = editlog
        self.notify = notify
        self.limits = limits
        self.clock = clock
        self.observer = observer  # metrics hooks: message(), result(state, result, latencies), edit(action)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, case_id: str) -> asyncio.Lock:
        lock = self._locks.get(case_id)
        if lock is None:
            lock = self._locks[case_id] = asyncio.Lock()
        return lock

    async def _change(self, case_id: str, change: Callable[[], Awaitable[Any]]) -> Any:
        async with self.lock(case_id):
            try:
                return await change()
            except BaseException:
                self.store.forget(case_id)  # the cached copy may hold a half-applied change
                raise

    # -- input events ----------------------------------------------------------------------
    async def on_message(self, rec: dict[str, Any], partition: int, received_ms: int | None = None) -> bool:
        """A ConversationEvent record. True when it was new (not a redelivery)."""
        text = rec["text"]
        if len(text) > self.limits.max_text_chars:
            raise InvalidEvent(f"text is {len(text)} characters, over the limit of {self.limits.max_text_chars}")
        if not text.strip():
            raise InvalidEvent("text is empty")
        _check_ids(rec, "case_id", "message_id")
        message = wire.message_from_event(rec)
        case_id = rec["case_id"]
        now = self.clock()
        received = received_ms if received_ms is not None and received_ms <= now else now

        async def change() -> bool:
            state = self.store.load(case_id, partition) or CaseState(case_id)
            if not state.add_message(message, received, self.limits.max_history):
                return False
            self.store.save(state, partition)
            self.notify(case_id)
            return True
        added = await self._change(case_id, change)
        if self.observer:
            self.observer.message()
        return added

    async def on_metadata(self, rec: dict[str, Any], partition: int) -> None:
        _check_ids(rec, "case_id")
        case_id = rec["case_id"]

        async def change() -> None:
            state = self.store.load(case_id, partition) or CaseState(case_id)
            state.set_metadata(wire.metadata_from_record(rec))
            self.store.save(state, partition)
        await self._change(case_id, change)

    def check_intake(self, kind: str, rec: dict[str, Any], key: bytes | str | None, partition: int) -> None:
        """``check_intake`` with this handler's partition count (the glue calls it for every input)."""
        check_intake(kind, rec, key, partition, self.limits.partitions)

    async def on_edit(self, rec: dict[str, Any], partition: int) -> NoteChange | None:
        _check_ids(rec, *REQUIRED_IDS["edit"])
        case_id = rec["case_id"]

        async def change() -> NoteChange | None:
            state = self.store.load(case_id, partition)
            if state is None:
                raise EditError(f"edit {rec['edit_id']!r} for unknown case {case_id!r}")
            applied = state.apply_edit(rec, redact=self.limits.redact,
                                       keep_originals=self.limits.redact_keep_originals)
            if applied is None:
                return None  # redelivered edit, already applied
            # Log first, then publish, then save: a crash in between replays the edit, and the
            # log write is idempotent on edit_id. The reverse order could lose the log record.
            await self._write_editlog(wire.edit_log_record(applied.log_record, rec["ts"]))
            await self.publish(case_id, [applied.change])
            self.store.save(state, partition)
            return applied.change
        out = await self._change(case_id, change)
        if out is not None and self.observer:
            self.observer.edit(rec["action"])
        return out

    async def _write_editlog(self, record: dict[str, Any]) -> None:
        delay = self.limits.retry_initial_s
        while True:
            try:
                await self.editlog.write(record)
                return
            except Exception as exc:  # store down: hold this case rather than lose the record
                import logging
                logging.getLogger("casenotes.worker").warning("edit log write failed (%s); retrying in %.1fs",
                                                              exc, delay)
                await asyncio.sleep(delay)
                delay = min(self.limits.retry_max_s, delay * 2)

    # -- engine results (one local hop: the scheduler task calls this directly) -------------
    async def apply_result(self, result: NoteResult, partition: int) -> list[NoteChange]:
        case_id = result.case_id

        async def change() -> list[NoteChange]:
            state = self.store.load(case_id, partition)
            if state is None:
                raise InvalidEvent(f"note result for unknown case {case_id!r}")
            covered_before = state.covered
            changes = state.apply_result(result, self.clock())
            if changes:
                # Saved before publishing: after a crash the same result is re-applied (same
                # ids and texts) instead of asking the engine again for possibly other bullets.
                self.store.inflight_put(case_id, result.to_dict(), partition)
                await self.publish(case_id, changes)
            self.store.save(state, partition)
            if changes:
                self.store.inflight_del(case_id, partition)
            newly = state.covered - covered_before
            if self.observer:
                self.observer.result(result, state.latencies_ms[-newly:] if newly > 0 else [], state.message_count)
            if state.pending:
                self.notify(case_id)
            return changes
        return await self._change(case_id, change)

    async def resume_inflight(self, case_id: str, partition: int) -> bool:
        """Re-apply a result that was being published when the worker stopped. True if one was."""
        raw = self.store.inflight_get(case_id, partition)
        if raw is None:
            return False
        await self.apply_result(NoteResult.from_dict(raw), partition)
        self.store.inflight_del(case_id, partition)
        return True


def _check_ids(rec: dict[str, Any], *names: str) -> None:
    for name in names:
        value = rec.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidEvent(f"{name} is empty")
        if len(value) > wire.MAX_ID_CHARS:
            raise InvalidEvent(f"{name} is {len(value)} characters, over the limit of {wire.MAX_ID_CHARS}")


class MemoryStore:
    """An in-memory ``CaseStore`` (tests, offline runs). Records go through ``to_bytes`` like
    the worker's, so size guarantees and round trips are exercised."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.pending: dict[str, int] = {}
        self.inflight: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def load(self, case_id: str, partition: int) -> CaseState | None:
        raw = self.records.get(case_id)
        return CaseState.from_bytes(raw) if raw is not None else None

    def save(self, state: CaseState, partition: int) -> None:
        self.records[state.case_id] = state.to_bytes()
        self.saves += 1
        if state.pending:
            self.pending[state.case_id] = partition
        else:
            self.pending.pop(state.case_id, None)

    def forget(self, case_id: str) -> None:
        pass

    def inflight_get(self, case_id: str, partition: int) -> dict[str, Any] | None:
        return self.inflight.get(case_id)

    def inflight_put(self, case_id: str, result: dict[str, Any], partition: int) -> None:
        self.inflight[case_id] = result

    def inflight_del(self, case_id: str, partition: int) -> None:
        self.inflight.pop(case_id, None)
