"""Cassandra edit log: the pure record <-> CQL mapping always; the store itself only against a
real server (set CASSANDRA_CONTACT_POINTS; none can run in this repository's CI sandbox)."""
from __future__ import annotations

import os
import re
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from cassandra.query import UNSET_VALUE
from editlog_samples import BASE_TS, edit_record
from editlog_contract import CONTRACT

from casenotes.editlog import make_editlog
from casenotes.editlog.base import FIELDS, prepare
from casenotes.editlog.cassandra import (
    INSERT_BY_CASE, INSERT_BY_DAY, TABLES, CassandraEditLog, insert_params, parse_contact_points, row_to_record,
    table_statements,
)
from casenotes.settings import Settings

SCHEMA_CQL = Path(__file__).resolve().parents[3] / "infra" / "cassandra" / "schema.cql"


def _normalize(cql: str) -> str:
    cql = re.sub(r"--[^\n]*", "", cql)
    return re.sub(r"\s+", " ", cql).strip()


def test_infra_schema_matches_the_tables_the_code_uses():
    text = SCHEMA_CQL.read_text()
    block = text.split("-- BEGIN TABLES", 1)[1].split("-- END TABLES", 1)[0].split("\n", 1)[1]
    assert _normalize(block) == _normalize(TABLES)
    assert "CREATE KEYSPACE IF NOT EXISTS casenotes" in text


def test_statements_bind_every_field_once():
    for cql, extra in ((INSERT_BY_CASE, 0), (INSERT_BY_DAY, 1)):
        assert cql.count("?") == len(FIELDS) + extra
    by_case, by_day = [s for s in table_statements()]
    for field in FIELDS:
        assert re.search(rf"\b{field} ", by_case) and re.search(rf"\b{field} ", by_day)
    assert "PRIMARY KEY ((case_id), ts, edit_id)" in by_case and "PRIMARY KEY ((day), ts, edit_id)" in by_day


def test_insert_params_map_none_to_unset_and_ts_to_utc_datetime():
    rec = prepare(edit_record("e-1", before=None, trigger_message_id=None))
    by_case, by_day = insert_params(rec)
    named = dict(zip(FIELDS, by_case))
    assert named["before"] is UNSET_VALUE and named["trigger_message_id"] is UNSET_VALUE  # no tombstones
    assert named["after"] == rec["after"] and named["bullet_version"] == 2
    assert named["ts"] == BASE_TS and named["ts"].tzinfo is not None
    assert by_day[:-1] == by_case and by_day[-1] == "2024-05-17"


def test_row_to_record_round_trips_a_driver_row():
    rec = prepare(edit_record("e-1", after=None))
    by_case, _ = insert_params(rec)
    # What the driver's dict_factory returns: nulls as None, timestamps as naive UTC datetimes.
    row = {f: (None if v is UNSET_VALUE else v) for f, v in zip(FIELDS, by_case)}
    row["ts"] = row["ts"].replace(tzinfo=None)
    row["day"] = "2024-05-17"
    assert row_to_record(row) == edit_record("e-1", after=None)


def test_contact_points_are_required_and_parsed():
    assert parse_contact_points(" 10.0.0.1, 10.0.0.2 ,") == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(ValueError, match="CASSANDRA_CONTACT_POINTS"):
        parse_contact_points(" , ")
    log = make_editlog(Settings.from_env(env={"CASSANDRA_CONTACT_POINTS": "db1,db2"}, editlog="cassandra",
                                         cassandra_port=9142))
    assert isinstance(log, CassandraEditLog)
    assert (log.contact_points, log.keyspace, log.port) == (["db1", "db2"], "casenotes", 9142)


async def test_use_before_open_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not open"):
        await CassandraEditLog("127.0.0.1").for_day(date(2024, 5, 17))


# --- against a real server --------------------------------------------------------------------
needs_server = pytest.mark.skipif(not os.environ.get("CASSANDRA_CONTACT_POINTS"),
                                  reason="no Cassandra server: set CASSANDRA_CONTACT_POINTS to run")


@pytest.fixture
async def live_log():
    from cassandra.cluster import Cluster

    points = parse_contact_points(os.environ["CASSANDRA_CONTACT_POINTS"])
    port = int(os.environ.get("CASSANDRA_PORT", "9042"))
    keyspace = f"casenotes_test_{uuid.uuid4().hex[:12]}"
    cluster = Cluster(points, port=port)
    session = cluster.connect()
    session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    log = CassandraEditLog(points, keyspace, port, create_tables=True)
    await log.open()
    try:
        yield log
    finally:
        await log.close()
        session.execute(f"DROP KEYSPACE {keyspace}")
        cluster.shutdown()


@needs_server
@pytest.mark.integration
@pytest.mark.parametrize("check", CONTRACT, ids=[c.__name__ for c in CONTRACT])
async def test_contract_on_a_real_server(live_log, check):
    await check(live_log)


@needs_server
@pytest.mark.integration
async def test_reads_follow_result_pages(live_log):
    # More rows than the driver's default page size (5000) in one partition.
    ts0 = datetime(2024, 5, 17, tzinfo=timezone.utc)
    for i in range(5200):
        await live_log.write(edit_record(f"e-{i:05d}", ts=int(ts0.timestamp() * 1000) + i))
    rows = await live_log.for_day(date(2024, 5, 17))
    assert len(rows) == 5200 and rows[0]["edit_id"] == "e-00000" and rows[-1]["edit_id"] == "e-05199"
