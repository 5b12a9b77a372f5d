"""The embedded edit log: one SQLite file (WAL), used by default and in development.

sqlite3 connections are bound to a thread, so all work runs on one dedicated worker thread;
the event loop only awaits it. One writer is plenty: agent edits are a few per minute per agent.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

from .base import FIELDS, check_day, day_of, from_millis, prepare

T = TypeVar("T")

_COLUMNS = ", ".join(FIELDS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS edits (
    edit_id            TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL,
    bullet_id          TEXT NOT NULL,
    action             TEXT NOT NULL,
    agent_id           TEXT NOT NULL,
    before             TEXT,
    after              TEXT,
    bullet_source      TEXT NOT NULL,
    bullet_version     INTEGER NOT NULL,
    engine             TEXT NOT NULL,
    model_version      TEXT NOT NULL,
    trigger_message_id TEXT,
    generation_context TEXT NOT NULL,
    ts                 INTEGER NOT NULL,  -- epoch milliseconds, UTC
    day                TEXT NOT NULL      -- UTC day of ts, YYYY-MM-DD
);
CREATE INDEX IF NOT EXISTS edits_by_case ON edits (case_id, ts, edit_id);
CREATE INDEX IF NOT EXISTS edits_by_day ON edits (day, ts, edit_id);
"""
# OR IGNORE: the first write of an edit_id wins. A replay carries the same record, and an
# already exported record must not change under the pipelines that read it.
_INSERT = f"INSERT OR IGNORE INTO edits ({_COLUMNS}, day) VALUES ({', '.join('?' * (len(FIELDS) + 1))})"
_SELECT = f"SELECT {_COLUMNS} FROM edits"


class SQLiteEditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editlog-sqlite")
        try:
            await self._run(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def write(self, record: dict[str, Any]) -> None:
        rec = prepare(record)  # validate on the caller's side: errors surface immediately
        params = (*(rec[f] for f in FIELDS), day_of(rec["ts"]))
        await self._run(lambda: self._db().execute(_INSERT, params))

    async def for_case(self, case_id: str) -> list[dict[str, Any]]:
        return await self._query(f"{_SELECT} WHERE case_id = ? ORDER BY ts, edit_id", (case_id,))

    async def for_day(self, day: dt.date) -> list[dict[str, Any]]:
        key = check_day(day).isoformat()
        return await self._query(f"{_SELECT} WHERE day = ? ORDER BY ts, edit_id", (key,))

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._run(self._disconnect)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- worker-thread side -------------------------------------------------------------
    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit: one statement per write
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync on every commit. An edit is logged once and the worker moves on, so a
        # power cut must not lose it; at a few edits per second the fsync cost is irrelevant.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")  # `casenotes export-edits` may read meanwhile
        conn.executescript(SCHEMA)
        conn.row_factory = sqlite3.Row
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        rows = await self._run(lambda: self._db().execute(sql, params).fetchall())
        return [dict(row, ts=from_millis(row["ts"])) for row in rows]

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError(f"edit log {self.path} is not open; call open() first")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
