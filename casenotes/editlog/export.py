"""Export edit-log records for pipelines: ``casenotes export-edits``.

One JSON object per line, the EditLogRecord fields, ``ts`` in ISO-8601 UTC. ``generation_context``
stays the JSON string the schema defines, so every line has exactly the Avro record's shape.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, TextIO

from . import make_editlog
from .base import EditLog, check_day

FORMATS = ("jsonl",)


def export_edits(settings: Any, out: TextIO, day: dt.date | None = None, case_id: str | None = None,
                 fmt: str = "jsonl") -> int:
    """Write the records of ``day`` (UTC) and/or ``case_id`` to ``out``; returns how many.

    Both given: the case's records on that day. Neither: a ValueError (there is no "dump all"
    query in the Cassandra model, on purpose).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if day is None and not case_id:
        raise ValueError("give a day and/or a case id to export")
    if day is not None:
        check_day(day)
    return asyncio.run(_export(make_editlog(settings), out, day, case_id))


async def export_from(log: EditLog, out: TextIO, day: dt.date | None, case_id: str | None) -> int:
    """The export against an open edit log (for callers that already have one)."""
    if case_id:
        records = await log.for_case(case_id)
        if day is not None:
            records = [r for r in records if r["ts"].astimezone(dt.timezone.utc).date() == day]
    else:
        assert day is not None
        records = await log.for_day(day)
    for rec in records:
        out.write(json.dumps(to_json(rec), ensure_ascii=False) + "\n")
    return len(records)


def to_json(record: dict[str, Any]) -> dict[str, Any]:
    ts = record["ts"]
    return dict(record, ts=ts.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds"))


async def _export(log: EditLog, out: TextIO, day: dt.date | None, case_id: str | None) -> int:
    await log.open()
    try:
        return await export_from(log, out, day, case_id)
    finally:
        await log.close()
