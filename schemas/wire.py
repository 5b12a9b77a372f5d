"""Mappings between wire records (the Avro records of ``*.avsc``) and the domain types.

Kept here, next to the schemas, so the worker's handlers never spell out field names.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

#: Ids longer than this are rejected (they end up in keys, bullet ids and state records).
MAX_ID_CHARS = 512


def iso(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(ts)


def message_from_event(rec: dict[str, Any]) -> Any:
    """A ConversationEvent record as a ``casenotes.model.Message``."""
    from casenotes.model import Message

    return Message(message_id=rec["message_id"], channel=rec["channel"], role=rec["role"], text=rec["text"],
                   ts=iso(rec["ts"]), agent_id=rec.get("agent_id"), language=rec.get("language"))


def metadata_from_record(rec: dict[str, Any]) -> Any:
    from casenotes.model import CaseMetadata

    return CaseMetadata.from_dict(rec)


def case_note(case_id: str, change: Any, now: datetime | None = None) -> dict[str, Any]:
    """A ``casenotes.state.NoteChange`` as a CaseNote record."""
    b = change.bullet
    return {
        "case_id": case_id, "bullet_id": b.bullet_id, "seq": b.seq, "version": b.version, "text": b.text,
        "label": b.label, "keep_score": b.keep_prob, "status": change.status,
        "source": "model" if change.status == "added" and b.source == "model" else "agent",
        "engine": b.engine, "model_version": b.model_version, "trigger_message_id": b.trigger_message_id,
        "latency_ms": change.latency_ms, "ts": now or datetime.now(timezone.utc),
    }


def edit_log_record(log_record: dict[str, Any], ts: Any) -> dict[str, Any]:
    """``EditApplied.log_record`` as an EditLogRecord (generation context as JSON text)."""
    return dict(log_record, ts=ts,
                generation_context=json.dumps(log_record["generation_context"], ensure_ascii=False))


def dead_letter(topic: str, partition: int, offset: int, key: Any, value: Any, reason: str,
                error_type: str) -> dict[str, Any]:
    return {"topic": topic, "partition": partition, "offset": offset, "key": key,
            "value": value if isinstance(value, bytes) else bytes(str(value), "utf-8"),
            "reason": reason, "error_type": error_type, "ts": datetime.now(timezone.utc)}
