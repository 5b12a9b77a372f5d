"""Tables: per-case state on RocksDB, backed by changelog topics (restored after a crash)."""
from __future__ import annotations

from casenotes.processors.app import app, settings

#: case id -> CaseState.to_dict(): history across channels, bullets with ids and versions, and
#: how far notes cover the history.
case_state = app.Table("case-state", default=None, partitions=settings.topic_partitions,
                       
                       help="Per-case note-taking state.")

#: case id -> partition, for cases with messages not yet covered by notes. Scanned by a timer
#: to resume work after a crash, restart or rebalance without scanning every case.
pending_cases = app.Table("pending-cases", default=None, partitions=settings.topic_partitions,
                          
                          help="Cases with messages not yet covered by notes.")
