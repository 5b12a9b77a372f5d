"""The case agent: every state change of a case happens here, in order, on its partition.

    conversation-events ─┐
    case-metadata ───────┤                     ┌─> notes (Avro CaseNote)
    agent-edits ─────────┼─> process_case_events ─> edit log (SQLite | Cassandra)
    note-results ────────┘        │  ▲          └─> dead-letters (with the reason)
                                  ▼  │
                       CaseScheduler ─ NoteTaker (engine + classifier), off the stream

The agent never awaits an engine: it records the message and notifies the scheduler, which
runs note-taking for the case in a background task and publishes the result to the
``note-results`` topic; the agent applies it like any other event. So state is only ever
changed inside stream processing (as Faust tables require), engine calls never block a
partition, and a crash between "engine answered" and "state updated" just replays the result.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from casenotes.editlog import make_editlog
from casenotes.engines.factory import make_classifier, make_engine
from casenotes.model import CaseMetadata, Message
from casenotes.notetaker import NoteTaker
from casenotes.processors import metrics
from casenotes.processors.app import app, settings
from casenotes.processors.scheduler import CaseScheduler
from casenotes.processors.tables import case_state, pending_cases
from casenotes.processors.topics import (
    case_input_topic, conversation_topic_name, dead_letter_topic, edits_topic_name, metadata_topic_name, notes_topic, results_topic,
)
from casenotes.schemas import DecodeError, make_codec
from casenotes.state import CaseState, EditError, NoteChange, NoteResult

log = logging.getLogger("casenotes.worker")

#: How long a case task waits for its result to come back through the stream before letting
#: the timer take over (e.g. after a rebalance moved the case to another worker).
RESULT_WAIT_S = 15.0


class InvalidEvent(ValueError):
    """An input event that decodes but cannot be processed (the reason goes to the DLQ)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(ts)


class Runtime:
    """Engines, classifier, codec, edit log and scheduler of this worker process.

    Started by the agent before it consumes its first event (so nothing is processed with a
    closed edit log) and stopped before the app shuts down.
    """

    def __init__(self) -> None:
        self.started = False
        self._lock = asyncio.Lock()
        self.codec = make_codec(settings.schema_registry_url)
        self.notetaker = NoteTaker(make_engine(settings), make_classifier(settings))
        self.editlog = make_editlog(settings)
        self.scheduler = CaseScheduler(self._run_case, settings.max_cases_in_flight, settings.retry_initial_s,
                                       settings.retry_max_s, on_error=self._on_engine_error)
        self._waiters: dict[str, asyncio.Future] = {}

    async def start(self) -> None:
        async with self._lock:
            if not self.started:
                await self._start()
                self.started = True

    async def _start(self) -> None:
        metrics.register_engine(self.notetaker.engine)
        await self.editlog.open()
        engine, classifier = self.notetaker.engine, self.notetaker.classifier
        log.info("engine=%s model=%s classifier=%s (%s, provider %s) editlog=%s", engine.name,
                 engine.model_version, classifier.name, classifier.model_version,
                 getattr(classifier, "provider", "n/a"), settings.editlog)
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

    # -- engine side (background tasks, never in the stream) -------------------------------
    async def _run_case(self, case_id: str) -> None:
        raw = case_state.get(case_id)
        partition = pending_cases.get(case_id)
        if raw is None or partition is None:
            return
        state = CaseState.from_dict(raw)
        if not state.pending:
            return
        view = state.view()
        engine = self.notetaker.engine.name
        metrics.CASES_IN_FLIGHT.set(self.scheduler.in_flight)
        result = await self.notetaker.take_notes(view)
        if result.skipped:
            metrics.ENGINE_CALLS.labels(engine, "skipped").inc()
        else:
            metrics.ENGINE_CALLS.labels(engine, "ok").inc()
            metrics.ENGINE_LATENCY.labels(engine).observe(result.engine_ms / 1e3)
            if result.proposals:
                metrics.CLASSIFIER_LATENCY.observe(result.classifier_ms / 1e3)
        waiter = self._waiters[case_id] = asyncio.get_running_loop().create_future()
        await results_topic.send(key=case_id.encode(), value=json.dumps(result.to_dict()).encode(),
                                 partition=partition)
        try:
            await asyncio.wait_for(waiter, RESULT_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("case %s: result not applied within %ss; the timer will resume it", case_id, RESULT_WAIT_S)
        finally:
            self._waiters.pop(case_id, None)

    def _on_engine_error(self, case_id: str, exc: BaseException) -> None:
        metrics.ENGINE_CALLS.labels(self.notetaker.engine.name, "error").inc()

    def result_applied(self, case_id: str) -> None:
        waiter = self._waiters.get(case_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- stream side ----------------------------------------------------------------------
    async def handle(self, event: Any) -> None:
        msg = event.message
        try:
            if msg.topic == results_topic.get_topic_name():
                await self._on_result(event)
            elif msg.topic == conversation_topic_name:
                await self._on_message(event, self.codec.decode(event.value, "conversation_event"))
            elif msg.topic == metadata_topic_name:
                self._on_metadata(self.codec.decode(event.value, "case_metadata"))
            elif msg.topic == edits_topic_name:
                await self._on_edit(self.codec.decode(event.value, "agent_edit"))
            else:
                raise InvalidEvent(f"unexpected topic {msg.topic!r}")
        except (DecodeError, InvalidEvent, EditError) as exc:
            await self.dead_letter(event, str(exc), type(exc).__name__)
        except Exception as exc:  # a bug must not stop the stream: park the event with the reason
            log.exception("unexpected error on %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            await self.dead_letter(event, f"internal error: {type(exc).__name__}: {exc}", "InternalError")

    def _load(self, case_id: str) -> CaseState | None:
        raw = case_state.get(case_id)
        return CaseState.from_dict(raw) if raw is not None else None

    def _save(self, state: CaseState, partition: int) -> None:
        case_state[state.case_id] = state.to_dict()
        if state.pending:
            if pending_cases.get(state.case_id) != partition:
                pending_cases[state.case_id] = partition
        elif pending_cases.get(state.case_id) is not None:
            del pending_cases[state.case_id]

    async def _on_message(self, event: Any, rec: dict[str, Any]) -> None:
        metrics.EVENTS.labels("message").inc()
        if len(rec["text"]) > settings.max_text_chars:
            raise InvalidEvent(f"text is {len(rec['text'])} characters, over the limit of {settings.max_text_chars}")
        if not rec["text"].strip():
            raise InvalidEvent("text is empty")
        message = Message(message_id=rec["message_id"], channel=rec["channel"], role=rec["role"], text=rec["text"],
                          ts=_iso(rec["ts"]), agent_id=rec.get("agent_id"), language=rec.get("language"))
        case_id = rec["case_id"]
        state = self._load(case_id) or CaseState(case_id)
        ts = event.message.timestamp
        received = int(ts * 1000) if ts and ts * 1000 <= _now_ms() else _now_ms()
        if state.add_message(message, received, settings.max_history):
            self._save(state, event.message.partition)
            self.scheduler.notify(case_id)

    def _on_metadata(self, rec: dict[str, Any]) -> None:
        metrics.EVENTS.labels("metadata").inc()
        case_id = rec["case_id"]
        state = self._load(case_id) or CaseState(case_id)
        state.set_metadata(CaseMetadata.from_dict(rec))
        case_state[case_id] = state.to_dict()

    async def _on_edit(self, rec: dict[str, Any]) -> None:
        metrics.EVENTS.labels("edit").inc()
        state = self._load(rec["case_id"])
        if state is None:
            raise EditError(f"edit {rec['edit_id']!r} for unknown case {rec['case_id']!r}")
        applied = state.apply_edit(rec)
        if applied is None:
            return  # redelivered edit, already applied
        # Log first, then change state: a crash in between replays the edit, and the log
        # write is idempotent on edit_id. The reverse order could lose the log record.
        record = dict(applied.log_record, ts=rec["ts"],
                      generation_context=json.dumps(applied.log_record["generation_context"], ensure_ascii=False))
        await self._write_editlog(record)
        await self.publish_note(state.case_id, applied.change)
        case_state[state.case_id] = state.to_dict()
        metrics.EDITS.labels(rec["action"]).inc()

    async def _write_editlog(self, record: dict[str, Any]) -> None:
        delay = settings.retry_initial_s
        while True:
            try:
                await self.editlog.write(record)
                return
            except Exception as exc:  # store down: hold this partition rather than lose the record
                log.warning("edit log write failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(settings.retry_max_s, delay * 2)

    async def _on_result(self, event: Any) -> None:
        try:
            result = NoteResult.from_dict(json.loads(event.value))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidEvent(f"malformed note result: {exc}") from None
        state = self._load(result.case_id)
        if state is None:
            raise InvalidEvent(f"note result for unknown case {result.case_id!r}")
        now = _now_ms()
        covered_before = state.covered
        changes = state.apply_result(result, now)
        if state.covered != covered_before:
            for latency in state.latencies_ms[-(state.covered - covered_before):]:
                metrics.MESSAGE_TO_NOTE.observe(latency / 1e3)
            for p in result.proposals:
                metrics.BULLETS.labels("kept" if p.keep else "dropped", p.label or "none").inc()
        # Publish (and wait for the broker's ack) before saving: a crash in between replays the
        # result and re-publishes the *same* bullet ids; the reverse order could lose notes.
        for change in changes:
            await self.publish_note(state.case_id, change)
        self._save(state, event.message.partition)
        if state.pending:
            self.scheduler.notify(state.case_id)
        self.result_applied(state.case_id)

    async def publish_note(self, case_id: str, change: NoteChange) -> None:
        b = change.bullet
        note = {
            "case_id": case_id, "bullet_id": b.bullet_id, "seq": b.seq, "version": b.version, "text": b.text,
            "label": b.label, "keep_score": b.keep_prob, "status": change.status,
            "source": "model" if change.status == "added" and b.source == "model" else "agent",
            "engine": b.engine, "model_version": b.model_version, "trigger_message_id": b.trigger_message_id,
            "latency_ms": change.latency_ms, "ts": datetime.now(timezone.utc),
        }
        await (await notes_topic.send(key=case_id.encode(), value=self.codec.encode("case_note", note)))

    async def dead_letter(self, event: Any, reason: str, error_type: str) -> None:
        msg = event.message
        metrics.DEAD_LETTERS.labels(error_type).inc()
        log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, reason)
        record = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "key": event.key,
                  "value": event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8"),
                  "reason": reason, "error_type": error_type, "ts": datetime.now(timezone.utc)}
        await (await dead_letter_topic.send(key=event.key, value=self.codec.encode("dead_letter", record)))


runtime = Runtime()


@app.agent(case_input_topic)
async def process_case_events(stream: Any) -> None:
    await runtime.start()
    async for event in stream.events():
        await runtime.handle(event)


@app.timer(interval=2.0)
async def resume_pending_cases() -> None:
    """Resume cases with uncovered messages: after a restart, a rebalance or a lost result."""
    if not runtime.started:
        return
    pending = 0
    for case_id in list(pending_cases.keys()):
        pending += 1
        if not runtime.scheduler.busy(case_id):
            runtime.scheduler.notify(case_id)
    metrics.CASES_PENDING.set(pending)
    metrics.CASES_IN_FLIGHT.set(runtime.scheduler.in_flight)


@app.on_before_shutdown.connect
async def stop_runtime(app: Any, **kwargs: Any) -> None:
    await runtime.stop()
