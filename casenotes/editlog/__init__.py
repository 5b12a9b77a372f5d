"""The edit log of applied agent edits: SQLite (embedded default) or Cassandra."""
from __future__ import annotations

from typing import Any

from .base import EditLog
from .sqlite import SQLiteEditLog

__all__ = ["EditLog", "SQLiteEditLog", "make_editlog"]


def make_editlog(settings: Any) -> EditLog:
    """The store named by ``settings.editlog`` (not opened yet: ``await log.open()``)."""
    kind = (settings.editlog or "").strip().lower()
    if kind == "sqlite":
        return SQLiteEditLog(settings.sqlite_file)
    if kind == "cassandra":
        from .cassandra import CassandraEditLog  # the driver is only imported when used

        return CassandraEditLog(settings.cassandra_contact_points, settings.cassandra_keyspace,
                                settings.cassandra_port)
    raise ValueError(f"CASENOTES_EDITLOG={settings.editlog!r} is not a known edit log; use sqlite or cassandra")
