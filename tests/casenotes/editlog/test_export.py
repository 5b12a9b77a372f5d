from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from editlog_samples import BASE_TS, edit_record

from casenotes.editlog import SQLiteEditLog
from casenotes.editlog.export import export_edits
from casenotes.schemas import check_record
from casenotes.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env(env={}, data_dir=str(tmp_path), editlog="sqlite")


async def _fill(settings):
    log = SQLiteEditLog(settings.sqlite_file)
    await log.open()
    await log.write(edit_record("e-1", ts=BASE_TS))  # 2024-05-17 23:59:59.500Z
    await log.write(edit_record("e-2", ts=BASE_TS + timedelta(seconds=1)))  # the 18th
    await log.write(edit_record("e-3", case_id="C-2", ts=BASE_TS - timedelta(hours=1), after=None,
                                action="delete"))
    await log.close()


def _export(settings, **kw):
    out = io.StringIO()
    n = export_edits(settings, out, **kw)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(lines)
    return lines


async def _export_async(settings, **kw):
    # export_edits runs its own event loop (it is a CLI entry point): call it from a thread.
    import asyncio

    return await asyncio.to_thread(_export, settings, **kw)


async def test_export_by_day_by_case_and_both(settings):
    await _fill(settings)
    by_day = await _export_async(settings, day=date(2024, 5, 17))
    assert [r["edit_id"] for r in by_day] == ["e-3", "e-1"]
    assert [r["edit_id"] for r in await _export_async(settings, case_id="C-1")] == ["e-1", "e-2"]
    both = await _export_async(settings, case_id="C-1", day=date(2024, 5, 18))
    assert [r["edit_id"] for r in both] == ["e-2"]
    assert await _export_async(settings, day=date(2020, 1, 1)) == []


async def test_export_lines_are_edit_log_records_with_iso_timestamps(settings):
    await _fill(settings)
    (line,) = await _export_async(settings, case_id="C-2")
    assert line["ts"] == "2024-05-17T22:59:59.500+00:00"
    assert line["after"] is None and json.loads(line["generation_context"])["history"][0]["text"] == "où est mon colis"
    check_record("edit_log_record", dict(line, ts=0))  # exactly the schema's fields


def test_export_rejects_bad_arguments(settings):
    with pytest.raises(ValueError, match="day and/or a case id"):
        export_edits(settings, io.StringIO())
    with pytest.raises(ValueError, match="unknown export format 'csv'"):
        export_edits(settings, io.StringIO(), case_id="C-1", fmt="csv")
    with pytest.raises(TypeError, match="datetime.date"):
        export_edits(settings, io.StringIO(), day="2024-05-17")
