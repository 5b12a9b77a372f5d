"""The edit log on Cassandra: two query tables written together, read one partition at a time.

Each record goes to ``edits_by_case`` and ``edits_by_day`` (see infra/cassandra/schema.cql).
The two inserts are sent concurrently as separate idempotent writes, not as a logged batch:
a logged batch across two partitions makes the coordinator write a batchlog first (two extra
round trips, more load) only to guarantee that both rows eventually exist. The worker already
gives that guarantee: it retries a failed ``write`` until it succeeds before it moves on, and
a retry rewrites the same primary keys with the same values, so a half-done write is repaired,
never duplicated. Statements are marked ``is_idempotent`` so the driver may retry or
speculatively execute them too.

The driver is callback based; ``_execute`` bridges ``execute_async`` to asyncio, following
result pages until the last one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Mapping, Sequence

from cassandra.query import UNSET_VALUE

from .base import FIELDS, EPOCH, check_day, day_of, prepare

# Kept identical to the block between BEGIN/END TABLES in infra/cassandra/schema.cql.
TABLES = """
CREATE TABLE IF NOT EXISTS edits_by_case (
    case_id text,
    ts timestamp,
    edit_id text,
    bullet_id text,
    action text,
    agent_id text,
    before text,
    after text,
    bullet_source text,
    bullet_version int,
    engine text,
    model_version text,
    trigger_message_id text,
    generation_context text,
    PRIMARY KEY ((case_id), ts, edit_id)
) WITH CLUSTERING ORDER BY (ts ASC, edit_id ASC);

CREATE TABLE IF NOT EXISTS edits_by_day (
    day text,
    ts timestamp,
    edit_id text,
    case_id text,
    bullet_id text,
    action text,
    agent_id text,
    before text,
    after text,
    bullet_source text,
    bullet_version int,
    engine text,
    model_version text,
    trigger_message_id text,
    generation_context text,
    PRIMARY KEY ((day), ts, edit_id)
) WITH CLUSTERING ORDER BY (ts ASC, edit_id ASC);
"""

_COLUMNS = ", ".join(FIELDS)
INSERT_BY_CASE = f"INSERT INTO edits_by_case ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"
INSERT_BY_DAY = f"INSERT INTO edits_by_day ({_COLUMNS}, day) VALUES ({', '.join('?' * (len(FIELDS) + 1))})"
SELECT_BY_CASE = f"SELECT {_COLUMNS} FROM edits_by_case WHERE case_id = ?"
SELECT_BY_DAY = f"SELECT {_COLUMNS} FROM edits_by_day WHERE day = ?"


def table_statements() -> list[str]:
    return [s.strip() for s in TABLES.split(";") if s.strip()]


# -- pure mapping between records and CQL values (unit-tested without a server) ---------------
def insert_params(record: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Bound values of (INSERT_BY_CASE, INSERT_BY_DAY) for a validated record (ts in millis).

    None becomes UNSET_VALUE: binding null would write a tombstone for every absent optional
    field, and these rows are never updated, so leaving the cell unset is the same value.
    """
    values = tuple(UNSET_VALUE if record[f] is None else record[f] for f in FIELDS)
    ts_index = FIELDS.index("ts")
    ts = EPOCH + dt.timedelta(milliseconds=record["ts"])
    values = values[:ts_index] + (ts,) + values[ts_index + 1:]
    return values, values + (day_of(record["ts"]),)


def row_to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of either table back to an EditLogRecord dict (ts aware UTC)."""
    rec = {f: row.get(f) for f in FIELDS}
    ts = rec["ts"]
    if isinstance(ts, dt.datetime) and ts.tzinfo is None:  # the driver returns naive UTC
        rec["ts"] = ts.replace(tzinfo=dt.timezone.utc)
    return rec


def parse_contact_points(value: str | Sequence[str]) -> list[str]:
    points = [p.strip() for p in value.split(",")] if isinstance(value, str) else [str(p).strip() for p in value]
    points = [p for p in points if p]
    if not points:
        raise ValueError("no Cassandra contact points: set CASENOTES_CASSANDRA_CONTACT_POINTS "
                         "(or CASSANDRA_CONTACT_POINTS), e.g. 10.0.0.1,10.0.0.2")
    return points


class CassandraEditLog:
    def __init__(self, contact_points: str | Sequence[str], keyspace: str = "casenotes", port: int = 9042,
                 *, create_tables: bool = False, request_timeout_s: float = 10.0) -> None:
        """``create_tables``: create the tables if missing (development; the keyspace must exist)."""
        self.contact_points = parse_contact_points(contact_points)
        self.keyspace = keyspace
        self.port = port
        self.create_tables = create_tables
        self.request_timeout_s = request_timeout_s
        self._cluster: Any = None
        self._session: Any = None
        self._statements: dict[str, Any] = {}

    async def open(self) -> None:
        if self._session is None:
            await asyncio.to_thread(self._connect)  # connect and prepare block: keep them off the loop

    def _connect(self) -> None:
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.query import dict_factory

        profile = ExecutionProfile(consistency_level=ConsistencyLevel.LOCAL_QUORUM, row_factory=dict_factory,
                                   request_timeout=self.request_timeout_s)
        cluster = Cluster(self.contact_points, port=self.port, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            session = cluster.connect(self.keyspace)
            if self.create_tables:
                for stmt in table_statements():
                    session.execute(stmt)
            statements = {}
            for name, cql in (("insert_by_case", INSERT_BY_CASE), ("insert_by_day", INSERT_BY_DAY),
                              ("select_by_case", SELECT_BY_CASE), ("select_by_day", SELECT_BY_DAY)):
                statements[name] = session.prepare(cql)
                statements[name].is_idempotent = True  # inserts rewrite the same key with the same values
        except BaseException:
            cluster.shutdown()
            raise
        self._cluster, self._session, self._statements = cluster, session, statements

    async def write(self, record: dict[str, Any]) -> None:
        by_case, by_day = insert_params(prepare(record))
        await asyncio.gather(self._execute("insert_by_case", by_case), self._execute("insert_by_day", by_day))

    async def for_case(self, case_id: str) -> list[dict[str, Any]]:
        return [row_to_record(r) for r in await self._execute("select_by_case", (case_id,))]

    async def for_day(self, day: dt.date) -> list[dict[str, Any]]:
        return [row_to_record(r) for r in await self._execute("select_by_day", (check_day(day).isoformat(),))]

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def _execute(self, statement: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        if self._session is None:
            raise RuntimeError("Cassandra edit log is not open; call open() first")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        rows: list[dict[str, Any]] = []
        response = self._session.execute_async(self._statements[statement], params)

        # Both callbacks run on the driver's event-loop thread.
        def on_page(page: Any) -> None:
            rows.extend(page or [])
            if response.has_more_pages:
                response.start_fetching_next_page()  # calls on_page again with the next page
            else:
                loop.call_soon_threadsafe(_settle, done, rows, None)

        def on_error(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, exc)

        response.add_callbacks(on_page, on_error)
        return await done


def _settle(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting task was cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
