"""EditLogRecord samples shared by the edit-log tests (a plain module: test directories
share one module namespace, so no second conftest.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

BASE_TS = datetime(2024, 5, 17, 23, 59, 59, 500000, tzinfo=timezone.utc)


def edit_record(edit_id: str, case_id: str = "C-1", ts: datetime | int = BASE_TS, **changes) -> dict:
    rec = {
        "edit_id": edit_id, "case_id": case_id, "bullet_id": f"{case_id}:0001", "action": "edit",
        "agent_id": "a-7", "before": "Parcel missing.", "after": "Customer reports a missing parcel 📦.",
        "bullet_source": "model", "bullet_version": 2, "engine": "extractive", "model_version": "x-1",
        "trigger_message_id": "m1",
        "generation_context": json.dumps({"metadata": {}, "history": [{"message_id": "m1", "text": "où est mon colis"}],
                                          "prefix_bullets": []}, ensure_ascii=False),
        "ts": ts,
    }
    rec.update(changes)
    return rec


def spread(n: int, start: datetime = BASE_TS, step: timedelta = timedelta(seconds=1)) -> list[datetime]:
    return [start + i * step for i in range(n)]
