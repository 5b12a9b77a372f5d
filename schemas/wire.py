"""Mappings between wire records (the Avro records of ``*.avsc``) and the domain types.

Kept here, next to the schemas, so the worker's handlers never spell out field names.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

#: Ids longer than this are rejected (they end up in keys, bullet ids and state records).
MAX_ID_CHARS = 512


def partition_for(case_id: str, partitions: int) -> int:
    """The partition a case's events belong to: murmur2 of the UTF-8 case id, as the Java
    client, aiokafka (the worker's producer) and librdkafka's ``murmur2_random`` compute it."""
    from aiokafka.partitioner import murmur2

    return (murmur2(case_id.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF) % partitions


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


#: A dead letter always fits the producer's request limit (Faust: ``producer_max_request_size``,
#: 1,000,000 bytes): an original value or key over these sizes is cut, and the record says so
#: (``truncated``) with the original's size and SHA-256 so it can still be matched and found.
MAX_DEAD_LETTER_VALUE_BYTES = 256_000
MAX_DEAD_LETTER_KEY_BYTES = 4_096
MAX_DEAD_LETTER_REASON_CHARS = 4_000


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def dead_letter(topic: str, partition: int, offset: int, key: Any, value: Any, reason: str,
                error_type: str) -> dict[str, Any]:
    """A DeadLetter record that always fits: the original key/value byte for byte when small,
    otherwise their first bytes with ``truncated`` set; sizes and the value's SHA-256 always."""
    import hashlib

    raw_key, raw_value = _as_bytes(key), _as_bytes(value) or b""
    key_cut = raw_key is not None and len(raw_key) > MAX_DEAD_LETTER_KEY_BYTES
    value_cut = len(raw_value) > MAX_DEAD_LETTER_VALUE_BYTES
    if len(reason) > MAX_DEAD_LETTER_REASON_CHARS:
        reason = reason[:MAX_DEAD_LETTER_REASON_CHARS] + " ...[reason truncated]"
    return {"topic": topic, "partition": partition, "offset": offset,
            "key": raw_key[:MAX_DEAD_LETTER_KEY_BYTES] if key_cut else raw_key,
            "value": raw_value[:MAX_DEAD_LETTER_VALUE_BYTES] if value_cut else raw_value,
            "reason": reason, "error_type": error_type, "ts": datetime.now(timezone.utc),
            "truncated": key_cut or value_cut, "value_bytes": len(raw_value),
            "key_bytes": None if raw_key is None else len(raw_key),
            "value_sha256": hashlib.sha256(raw_value).hexdigest()}
