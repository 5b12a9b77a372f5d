"""The edit log: every applied agent edit with what produced the bullet (preference data).

Records are ``EditLogRecord`` dicts (``schemas/edit_log_record.avsc``). Stores validate them
against that schema on write and return them with ``ts`` as an aware UTC datetime, ordered by
``(ts, edit_id)``. Writes are idempotent on ``edit_id``: the worker logs an edit before it
saves the case state, so a crash in between replays the same write.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, runtime_checkable

from casenotes.schemas import check_record

RECORD_SCHEMA = "edit_log_record"
FIELDS: tuple[str, ...] = (
    "edit_id", "case_id", "bullet_id", "action", "agent_id", "before", "after", "bullet_source",
    "bullet_version", "engine", "model_version", "trigger_message_id", "generation_context", "ts",
)


@runtime_checkable
class EditLog(Protocol):
    async def open(self) -> None: ...

    async def write(self, record: dict[str, Any]) -> None:
        """Store an EditLogRecord; writing the same ``edit_id`` again changes nothing."""

    async def for_case(self, case_id: str) -> list[dict[str, Any]]:
        """The case's records, ordered by ts."""

    async def for_day(self, day: dt.date) -> list[dict[str, Any]]:
        """Records whose ts falls on ``day`` (UTC), ordered by ts."""

    async def close(self) -> None: ...


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)


def to_millis(ts: Any) -> int:
    if isinstance(ts, dt.datetime):
        return (ts - EPOCH) // _MS  # exact integer arithmetic; naive datetimes were refused earlier
    return int(ts)


def from_millis(ms: int) -> dt.datetime:
    return EPOCH + ms * _MS


def day_of(ts_ms: int) -> str:
    """The UTC day of a timestamp, as the stores key it: YYYY-MM-DD."""
    return from_millis(ts_ms).date().isoformat()


def prepare(record: Any) -> dict[str, Any]:
    """Validate ``record`` against EditLogRecord; ``ts`` becomes int millis (UTC).

    Raises ``casenotes.schemas.EncodeError`` (a ValueError) with the reason.
    """
    rec = check_record(RECORD_SCHEMA, record)
    rec["ts"] = to_millis(rec["ts"])
    return rec


def check_day(day: Any) -> dt.date:
    # datetime is a date subclass: its time of day would be silently ignored.
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError(f"day must be a datetime.date, got {type(day).__name__}")
    return day
