"""Sample records, one per schema, with every optional field set (FULL) or left out (MINIMAL).

A plain module, not conftest.py: test directories share one module namespace."""
from __future__ import annotations

from datetime import datetime, timezone


TS = datetime(2024, 5, 17, 9, 30, 12, 345000, tzinfo=timezone.utc)

FULL = {
    "conversation_event": {"case_id": "C-1", "message_id": "m1", "channel": "chat", "role": "customer",
                           "agent_id": "a-7", "text": "Mon colis n'est pas arrivé 📦", "ts": TS, "language": "fr"},
    "case_metadata": {"case_id": "C-1", "customer": {"tier": "gold"}, "agent": {"name": "Ana"},
                      "attributes": {"product": "router"}, "ts": TS},
    "agent_edit": {"edit_id": "e1", "case_id": "C-1", "bullet_id": "C-1:0001", "action": "edit",
                   "text": "Customer reports a missing parcel.", "agent_id": "a-7", "ts": TS},
    "case_note": {"case_id": "C-1", "bullet_id": "C-1:0001", "seq": 1, "version": 1, "text": "Parcel missing.",
                  "label": "customer_provides_issue", "keep_score": 0.875, "status": "added", "source": "model",
                  "engine": "extractive", "model_version": "x-1", "trigger_message_id": "m1", "latency_ms": 12.5,
                  "ts": TS},
    "edit_log_record": {"edit_id": "e1", "case_id": "C-1", "bullet_id": "C-1:0001", "action": "edit",
                        "agent_id": "a-7", "before": "Parcel missing.", "after": "Customer reports a missing parcel.",
                        "bullet_source": "model", "bullet_version": 2, "engine": "extractive", "model_version": "x-1",
                        "trigger_message_id": "m1", "generation_context": '{"history": []}', "ts": TS},
    "dead_letter": {"topic": "casenotes.conversation-events", "partition": 3, "offset": 2**40, "key": b"C-1",
                    "value": b"\xff\x00garbage", "reason": "not Avro", "error_type": "DecodeError", "ts": TS,
                    "truncated": True, "value_bytes": 10_000_000, "key_bytes": 3, "value_sha256": "ab" * 32},
}

# The same records with every field that has a default left out.
MINIMAL = {
    "conversation_event": {k: v for k, v in FULL["conversation_event"].items() if k not in ("agent_id", "language")},
    "case_metadata": {"case_id": "C-1", "ts": TS},
    "agent_edit": {"edit_id": "e2", "case_id": "C-1", "action": "add", "agent_id": "a-7", "ts": TS},
    "case_note": {k: v for k, v in FULL["case_note"].items()
                  if k not in ("label", "keep_score", "trigger_message_id", "latency_ms")},
    "edit_log_record": {k: v for k, v in FULL["edit_log_record"].items()
                        if k not in ("before", "after", "trigger_message_id")},
    "dead_letter": {k: v for k, v in FULL["dead_letter"].items()
                    if k not in ("key", "truncated", "value_bytes", "key_bytes", "value_sha256")},
}

