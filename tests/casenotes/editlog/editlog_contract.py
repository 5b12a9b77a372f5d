"""The behaviour every EditLog store must have; run against SQLite always and against
Cassandra when a server is configured."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from editlog_samples import BASE_TS, edit_record

from casenotes.schemas import EncodeError


async def check_round_trip_and_order(log) -> None:
    late = edit_record("e-late", ts=BASE_TS + timedelta(seconds=5))
    early = edit_record("e-early", ts=BASE_TS - timedelta(seconds=5), before=None, action="add", after="New bullet")
    tie = edit_record("e-tie", ts=BASE_TS - timedelta(seconds=5), after=None, action="delete")
    for rec in (late, early, tie):
        await log.write(rec)
    got = await log.for_case("C-1")
    assert [r["edit_id"] for r in got] == ["e-early", "e-tie", "e-late"]  # ts, then edit_id
    assert got[0] == early and got[1] == tie and got[2] == late  # every field, None included
    assert all(r["ts"].tzinfo is not None for r in got)


async def check_idempotent_on_edit_id(log) -> None:
    rec = edit_record("e-1")
    for _ in range(3):
        await log.write(rec)
    await log.write(dict(rec, ts=int(rec["ts"].timestamp() * 1000)))  # same instant, int millis
    assert await log.for_case("C-1") == [rec]


async def check_for_day_uses_utc_days(log) -> None:
    # 23:59:59.500 UTC on the 17th and half a second later, on the 18th: different days.
    await log.write(edit_record("e-17", ts=BASE_TS))
    await log.write(edit_record("e-18", case_id="C-2", ts=BASE_TS + timedelta(seconds=0.5)))
    paris = timezone(timedelta(hours=2))
    await log.write(edit_record("e-18b", case_id="C-3", ts=datetime(2024, 5, 18, 1, 0, tzinfo=paris)))  # 23:00Z 17th
    assert [r["edit_id"] for r in await log.for_day(date(2024, 5, 17))] == ["e-18b", "e-17"]
    assert [r["edit_id"] for r in await log.for_day(date(2024, 5, 18))] == ["e-18"]
    assert await log.for_day(date(2024, 5, 19)) == []
    assert await log.for_case("nope") == []


async def check_rejects_invalid_records(log) -> None:
    with pytest.raises(EncodeError, match="missing field 'generation_context'"):
        rec = edit_record("e-bad")
        del rec["generation_context"]
        await log.write(rec)
    with pytest.raises(EncodeError, match="action"):
        await log.write(edit_record("e-bad", action="rewrite"))
    with pytest.raises(EncodeError, match="naive datetime"):
        await log.write(edit_record("e-bad", ts=datetime(2024, 1, 1)))
    with pytest.raises(TypeError, match="datetime.date"):
        await log.for_day(datetime(2024, 5, 17, tzinfo=timezone.utc))
    assert await log.for_case("C-1") == []


CONTRACT = [check_round_trip_and_order, check_idempotent_on_edit_id, check_for_day_uses_utc_days,
            check_rejects_invalid_records]
