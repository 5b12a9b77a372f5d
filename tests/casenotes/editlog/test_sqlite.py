from __future__ import annotations

import asyncio
import sqlite3
from datetime import date

import pytest
from editlog_samples import BASE_TS, edit_record, spread
from editlog_contract import CONTRACT

from casenotes.editlog import SQLiteEditLog, make_editlog
from casenotes.editlog.base import EditLog
from casenotes.settings import Settings


@pytest.fixture
async def log(tmp_path):
    store = SQLiteEditLog(tmp_path / "sub" / "editlog.sqlite3")
    await store.open()
    yield store
    await store.close()


@pytest.mark.parametrize("check", CONTRACT, ids=[c.__name__ for c in CONTRACT])
async def test_contract(log, check):
    await check(log)


async def test_records_survive_reopen_and_file_is_wal(tmp_path):
    path = tmp_path / "editlog.sqlite3"
    first = SQLiteEditLog(path)
    await first.open()
    await first.write(edit_record("e-1"))
    await first.close()
    second = SQLiteEditLog(path)
    await second.open()
    await second.write(edit_record("e-1", after="changed on replay"))  # ignored: first write wins
    assert await second.for_case("C-1") == [edit_record("e-1")]
    await second.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM edits WHERE day = ? ORDER BY ts",
                                                ("2024-05-17",)))
    assert "edits_by_day" in plan  # the day query uses its index, no full scan or sort
    conn.close()


async def test_concurrent_writes_from_many_tasks(log):
    records = [edit_record(f"e-{i:03d}", case_id=f"C-{i % 5}", ts=ts) for i, ts in enumerate(spread(200))]
    await asyncio.gather(*(log.write(r) for r in records))
    got = await log.for_day(date(2024, 5, 17)) + await log.for_day(date(2024, 5, 18))
    assert sorted(r["edit_id"] for r in got) == [r["edit_id"] for r in records]
    case0 = await log.for_case("C-0")
    assert [r["edit_id"] for r in case0] == [r["edit_id"] for r in records if r["case_id"] == "C-0"]


async def test_use_before_open_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="not open"):
        await SQLiteEditLog(tmp_path / "x.sqlite3").for_case("C-1")


def test_make_editlog_picks_the_store(tmp_path):
    settings = Settings.from_env(env={}, data_dir=str(tmp_path))
    log = make_editlog(settings)
    assert isinstance(log, SQLiteEditLog) and isinstance(log, EditLog)
    assert log.path == tmp_path.resolve() / "editlog.sqlite3"
    with pytest.raises(ValueError, match="CASENOTES_EDITLOG='mongo'"):
        make_editlog(settings.replace(editlog="mongo"))
    with pytest.raises(ValueError, match="no Cassandra contact points"):
        make_editlog(settings.replace(editlog="cassandra"))


def test_ts_round_trip_is_exact():
    from casenotes.editlog.base import from_millis, to_millis

    assert from_millis(to_millis(BASE_TS)) == BASE_TS
    assert to_millis(BASE_TS) == 1715990399500
