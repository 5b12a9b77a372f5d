"""The Faust glue around the case handler: one agent, one timer, the engine-side tasks.

    conversation-events ─┐                        ┌─> notes (Avro CaseNote)
    case-metadata ───────┼─> process_case_events ─┼─> edit log (SQLite | Cassandra)
    agent-edits ─────────┘   (CaseHandler)  ▲     └─> dead-letters (with the reason)
                                  │ notify  │ apply_result (local call, per-case lock)
                                  ▼         │
                       CaseScheduler ─ NoteTaker (engine + classifier), off the stream

The agent never awaits an engine: it records the message and notifies the scheduler. The
scheduler's task calls the engine while holding a concurrency slot, releases it, then applies
the result itself (``CaseHandler.apply_result``) under the case's lock: one local hop instead of
a round trip through a Kafka topic. Every state change of a case still happens one at a time
and in order; notes are still published before the state that holds them is saved; an
``inflight-results`` table entry written before publishing makes a crash re-apply the same
result (same bullets, same ids) rather than call the engine again.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from typing import Any

from casenotes.notetaker import NoteTaker
from casenotes.processors import metrics
from casenotes.processors.handler import CaseHandler, InvalidEvent, Limits
from casenotes.processors.scheduler import CaseScheduler
from casenotes.processors.tables import ACK_WAIT_S, Tables, TableStore, rebalance_epoch
from casenotes.processors.topics import Topics
from casenotes.schemas import DecodeError, wire
from casenotes.settings import Settings
from casenotes.state import EditError, NoteChange, NoteResult, StateTooLarge

log = logging.getLogger("casenotes.worker")

#: Engine calls remembered per worker for the case page ("what did the engine see last").
REMEMBERED_CALLS = 2048

_REJECTED = (DecodeError, InvalidEvent, EditError, StateTooLarge)


class Runtime:
    """Engine, classifier, codec, edit log, scheduler and case handler of one worker process.

    Every dependency can be injected (tests); the defaults come from the registries in
    ``casenotes.engines.factory`` and ``casenotes.editlog``. Started by the agent before its
    first event (so nothing is processed with a closed edit log), stopped before shutdown.
    """

    def __init__(self, settings: Settings, app: Any, topics: Topics, tables: Tables, *,
                 notetaker: NoteTaker | None = None, codec: Any = None, editlog: Any = None) -> None:
        from casenotes.editlog import make_editlog
        from casenotes.schemas import make_codec

        self.settings = settings
        self.app = app
        self.topics = topics
        self.started = False
        self._lock = asyncio.Lock()
        self.codec = codec or make_codec(settings.schema_registry_url)
        self.notetaker = notetaker or NoteTaker.from_settings(settings)
        self.editlog = editlog or make_editlog(settings)
        self.store = TableStore(tables, generation=lambda: rebalance_epoch(app),
                                flush=lambda: app.producer.flush())
        self.scheduler = CaseScheduler(self._run_case, settings.max_cases_in_flight, settings.retry_initial_s,
                                       settings.retry_max_s, on_error=self._on_engine_error,
                                       on_wait=metrics.SCHEDULE_WAIT.observe)
        self.handler = CaseHandler(
            self.store, self.publish_notes, self.editlog, self.scheduler.notify,
            Limits(settings.max_text_chars, settings.max_history, settings.retry_initial_s, settings.retry_max_s,
                   partitions=settings.topic_partitions, redact=settings.redact,
                   redact_keep_originals=settings.redact_keep_originals),
            observer=metrics.Observer())
        self.recent_calls: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._owner_cache: tuple[int, Any] | None = None
        self._engine_series: tuple[Any, Any] | None = None
        self.last_offsets: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset handled (/debug/)

    async def start(self) -> None:
        async with self._lock:
            if not self.started:
                await self._start()
                self.started = True

    async def _start(self) -> None:
        s = self.settings
        metrics.register_engine(self.notetaker.engine)
        await self.editlog.open()
        engine, classifier = self.notetaker.engine, self.notetaker.classifier
        log.info("engine=%s model=%s (%s) classifier=%s (%s, provider %s) editlog=%s max_cases_in_flight=%d",
                 engine.name, engine.model_version,
                 f"{s.engine_processes} engine processes" if self.notetaker.offload else "in the event loop",
                 classifier.name, classifier.model_version,
                 getattr(classifier, "provider", "n/a"), s.editlog, s.max_cases_in_flight)
        if s.engine in ("openai", "triton") and s.llm_concurrency < s.max_cases_in_flight:
            log.warning("CASENOTES_LLM_CONCURRENCY=%d caps LLM calls below CASENOTES_MAX_CASES_IN_FLIGHT=%d: "
                        "the other cases wait inside the engine (counted in casenotes_engine_seconds)",
                        s.llm_concurrency, s.max_cases_in_flight)
        metrics.record_models(engine, classifier)
        try:
            await self.notetaker.start()
        except Exception as exc:
            # Not fatal: cases stay pending and are retried until the engine is ready.
            log.error("engine/classifier not ready at start-up: %s. Notes are delayed until it is.", exc)

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.scheduler.close()
        await self.notetaker.close()
        await self.editlog.close()

    # -- engine side (scheduler tasks, never in the stream) ----------------------------------
    def _owns(self, partition: int) -> bool:
        return self._owner()(partition)

    def _owner(self) -> Any:
        """``partition -> bool`` over one snapshot of the consumer's assignment, reused until the
        next rebalance starts (Faust counts them; building the assignment's TP set on every
        engine call and result was ~4% of the event loop in the LLM benchmark)."""
        app = self.app
        epoch = None if getattr(app, "rebalancing", True) else getattr(app, "rebalancing_count", None)
        cached = self._owner_cache
        if epoch is not None and cached is not None and cached[0] == epoch:
            return cached[1]
        try:
            assigned = app.consumer.assignment()
            name = self.topics.names["conversation-events"]
        except Exception:  # no consumer yet (tests): assume yes
            return lambda partition: True
        if not assigned:
            return lambda partition: True
        owns = {tp.partition for tp in assigned if tp.topic == name}.__contains__
        if isinstance(epoch, int):
            self._owner_cache = (epoch, owns)
        return owns

    def _warn_not_ready(self) -> None:
        """Say so when tables stay unusable: every case waits meanwhile; this line tells which of
        Faust's flags holds it (GET /debug/ shows more)."""
        now = time.monotonic()
        since = getattr(self, "_not_ready_since", None) or now
        self._not_ready_since = since
        if now - since >= 30 and int(now - since) % 30 < 2:
            app = self.app
            log.warning("tables not usable for %.0f s: rebalancing=%s in_recovery=%s recovery_completed=%s",
                        now - since, getattr(app, "rebalancing", "?"), getattr(app, "in_recovery", "?"),
                        getattr(getattr(getattr(app, "tables", None), "recovery", None), "completed", None))

    def _ready(self) -> bool:
        """Tables are usable: not rebalancing, not recovering from changelogs. (Timers run during
        recovery; reading half-recovered state there could reuse bullet seqs.)"""
        app = self.app
        try:
            return (not app.rebalancing and not getattr(app, "in_recovery", False)
                    and app.tables.recovery.completed.is_set())
        except AttributeError:  # not a running Faust app (tests)
            return True

    async def _run_case(self, case_id: str) -> Any:
        if not self._ready():
            return None  # the resume timer comes back to it
        partition = self.store.partition_of(case_id)
        if partition is None or not self._owns(partition):
            return None  # nothing pending, or the case moved to another worker (it resumes there)
        if self.store.inflight_get(case_id, partition) is not None:
            return functools.partial(self._resume_inflight, case_id, partition)
        state = self.store.load(case_id, partition)
        if state is None or not state.pending:
            return None
        view = state.view()
        metrics.CASES_IN_FLIGHT.set(self.scheduler.calls)
        result = await self.notetaker.take_notes(view)
        engine = self.notetaker.engine.name
        if result.skipped:
            metrics.ENGINE_CALLS.labels(engine, "skipped").inc()
        else:
            ok, latency = self._engine_series or self._bind_engine_series(engine)
            ok.inc()
            latency.observe(result.engine_ms / 1e3)
            if result.proposals:
                metrics.CLASSIFIER_LATENCY.observe(result.classifier_ms / 1e3)
        self._remember_call(case_id, result)
        # The slot is released when this returns; the result is applied right after.
        return functools.partial(self._finish, result.with_prefix_refs(view), partition)

    def _bind_engine_series(self, engine: str) -> tuple[Any, Any]:
        """The per-call metric series, bound once (``labels()`` takes a lock and a lookup)."""
        self._engine_series = (metrics.ENGINE_CALLS.labels(engine, "ok"), metrics.ENGINE_LATENCY.labels(engine))
        return self._engine_series

    async def _finish(self, result: NoteResult, partition: int) -> None:
        if not self._ready() or not self._owns(partition):
            log.info("case %s: partition %s moved or recovering; result dropped, the case resumes later",
                     result.case_id, partition)
            return
        t0 = time.perf_counter()
        await self.handler.apply_result(result, partition)
        # Outside the stream no input offset stands behind these table writes: wait until this
        # case's changelog records are acked (not a full producer flush: other cases' writes are
        # not ours to wait for), so a crash cannot roll the case back behind published notes.
        await self.store.acked(result.case_id)
        metrics.RESULT_APPLY.observe(time.perf_counter() - t0)
        metrics.STATE_BYTES.observe(self.store.last_record_bytes)

    async def _resume_inflight(self, case_id: str, partition: int) -> None:
        await self.handler.resume_inflight(case_id, partition)
        await self.store.acked(case_id)

    def _remember_call(self, case_id: str, result: NoteResult) -> None:
        self.recent_calls[case_id] = {
            "last_message_id": result.last_message_id, "skipped": result.skipped,
            "prefix": list(result.context.get("prefix", [])), "engine_ms": round(result.engine_ms, 2),
            "classifier_ms": round(result.classifier_ms, 2), "proposals": len(result.proposals)}
        self.recent_calls.move_to_end(case_id)
        while len(self.recent_calls) > REMEMBERED_CALLS:
            self.recent_calls.popitem(last=False)

    def _on_engine_error(self, case_id: str, exc: BaseException) -> None:
        metrics.ENGINE_CALLS.labels(self.notetaker.engine.name, "error").inc()

    # -- stream side ----------------------------------------------------------------------
    async def handle(self, event: Any) -> None:
        msg = event.message
        self.last_offsets[(msg.topic, msg.partition)] = msg.offset
        try:
            spec = self.topics.spec(msg.topic)
            if spec is None:
                raise InvalidEvent(f"unexpected topic {msg.topic!r}")
            rec = self.codec.decode(event.value, spec.schema)
            self.handler.check_intake(spec.event, rec, event.key, msg.partition)  # ids, key, partition
            if spec.event == "message":
                ts = msg.timestamp
                if ts:
                    metrics.STREAM_LAG.observe(max(0.0, time.time() - ts))
                await self.handler.on_message(rec, msg.partition, int(ts * 1000) if ts else None)
            elif spec.event == "metadata":
                metrics.EVENTS.labels("metadata").inc()
                await self.handler.on_metadata(rec, msg.partition)
            else:
                metrics.EVENTS.labels("edit").inc()
                await self.handler.on_edit(rec, msg.partition)
        except _REJECTED as exc:
            await self.dead_letter(event, str(exc), type(exc).__name__)
        except Exception as exc:  # a bug must not stop the stream: park the event with the reason
            log.exception("unexpected error on %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            await self.dead_letter(event, f"internal error: {type(exc).__name__}: {exc}", "InternalError")

    async def publish_notes(self, case_id: str, changes: list[NoteChange]) -> None:
        """Send in order, then wait for every ack (one round trip for a result's bullets, which
        also narrows the publish-then-save window a crash can fall into). The case's table
        writes so far (the in-flight result entry above all) are acked first: a note must never
        be out while the record that lets a restart re-apply it could still be lost."""
        await self.store.acked(case_id)
        acks = []
        for change in changes:
            value = self.codec.encode("case_note", wire.case_note(case_id, change))
            acks.append(await self.topics.notes.send(key=case_id.encode(), value=value))
        await self._acked(acks, f"notes of case {case_id}")

    async def _acked(self, futures: list[Any], what: str) -> None:
        """Wait for broker acks; a send still unacked after ``ACK_WAIT_S`` gets a producer flush,
        then one more wait, then an error (the caller retries). A future the producer never
        resolves must not stall the case or the stream forever (seen in the soak test)."""
        if not futures:
            return
        done, late = await asyncio.wait(futures, timeout=ACK_WAIT_S)
        if late:
            log.warning("%s: %d sends not acked after %.0f s; flushing the producer", what, len(late), ACK_WAIT_S)
            await self.app.producer.flush()
            done, late = await asyncio.wait(futures, timeout=ACK_WAIT_S)
            if late:
                raise TimeoutError(f"{what}: {len(late)} sends not acked after a producer flush")
        for fut in done:
            fut.result()  # a failed send raises: the caller retries
    async def dead_letter(self, event: Any, reason: str, error_type: str) -> None:
        """Park ``event`` on the dead-letter topic with the reason. The record always fits (an
        oversized original is cut, with its size and SHA-256: ``wire.dead_letter``); the send
        is retried until acked, so the stream never moves past a record left unrecorded. The
        metric counts dead letters written."""
        msg = event.message
        log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, reason[:500])
        record = wire.dead_letter(msg.topic, msg.partition, msg.offset, event.key, event.value, reason, error_type)
        value = self.codec.encode("dead_letter", record)
        delay = self.settings.retry_initial_s
        while True:
            try:
                await self._acked([await self.topics.dead_letters.send(key=record["key"], value=value)],
                                  f"dead letter for {msg.topic}[{msg.partition}]@{msg.offset}")
                break
            except Exception as exc:
                log.warning("dead letter for %s[%s]@%s not written (%s: %s); retrying in %.1fs", msg.topic,
                            msg.partition, msg.offset, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(self.settings.retry_max_s, delay * 2)
        metrics.DEAD_LETTERS.labels(error_type).inc()

    async def resume_pending(self) -> None:
        """Resume cases with uncovered messages: after a restart, a rebalance or a failure."""
        if not self.started:
            return
        if not self._ready():
            self._warn_not_ready()
            return
        self._not_ready_since = None
        # Also removes the entries of cases that stayed covered and old in-flight tombstones.
        pending = self.store.sweep(owns=self._owner(), busy=self.scheduler.busy)
        for case_id in pending:
            if not self.scheduler.busy(case_id):
                self.scheduler.notify(case_id)
        metrics.CASES_PENDING.set(len(pending))
        metrics.CASES_IN_FLIGHT.set(self.scheduler.calls)
        metrics.CASES_SCHEDULED.set(self.scheduler.in_flight)


def register(app: Any, runtime: Runtime) -> list[Any]:
    """Declare the agent, the resume timer and the shutdown hook on ``app``."""

    async def process_case_events(stream: Any) -> None:
        await runtime.start()
        async for event in stream.events():
            await runtime.handle(event)

    async def resume_pending_cases() -> None:
        await runtime.resume_pending()

    async def stop_runtime(app: Any, **kwargs: Any) -> None:
        await runtime.stop()

    agent = app.agent(runtime.topics.case_input, name="process_case_events")(process_case_events)
    timer = app.timer(interval=2.0, name="resume_pending_cases")(resume_pending_cases)
    app.on_before_shutdown.connect(stop_runtime)
    return [agent, timer, stop_runtime]
