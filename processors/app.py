"""``create_app(settings)``: the worker's Faust app with its topics, tables, agent and pages.

Nothing is read from the environment at import time: ``casenotes worker`` builds the settings
(``Settings.from_env()``) and passes them; tests and benchmarks build apps from their own
settings, in one process if they like, and may inject the engine, classifier, codec and edit log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust

from casenotes.settings import Settings


def _app_config(s: Settings) -> dict:
    config = dict(
        broker=s.broker,
        store=s.store,
        datadir=str(s.data_path / "faust"),
        topic_partitions=s.topic_partitions,
        topic_replication_factor=s.topic_replicas,
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=max(0.5, s.session_timeout_s / 6),
        consumer_auto_offset_reset="earliest",
        # Table keys (case ids) are JSON; the case-state values are bytes the state encodes
        # itself (bounded); topics set their own (raw bytes).
        key_serializer="json",
        value_serializer="json",
        web_port=s.web_port,
        web_bind="127.0.0.1" if s.embedded_broker else "0.0.0.0",
        table_standby_replicas=0 if s.embedded_broker else 1,
        # Notes and dead letters are written from within the stream; on real Kafka you may
        # switch to processing_guarantee="exactly_once". aiokafka cannot do idempotence or
        # transactions against the embedded broker, so the default stays at-least-once and
        # bullet ids are deterministic instead (a replay re-publishes the same ids).
        processing_guarantee="at_least_once",
    )
    if s.embedded_broker:
        from casenotes.processors import embedded

        config.update(embedded.app_config())
    config["producer_linger"] = producer_linger_s()
    return config


#: Producer linger: a result's records (in-flight entry, notes, state) and other cases' records
#: share produce requests instead of one request each (the Java client's default is 5 ms too).
#: ``make bench-stream``, extractive 200 msg/s: CPU per message 4.2-4.5 ms at 0 ms, 3.5 ms at 5 ms.
PRODUCER_LINGER_MS = 5.0
PRODUCER_LINGER_ENV = "CASENOTES_PRODUCER_LINGER_MS"


def producer_linger_s() -> float:
    """``CASENOTES_PRODUCER_LINGER_MS`` (read when the app is created), else ``PRODUCER_LINGER_MS``."""
    import os

    raw = os.environ.get(PRODUCER_LINGER_ENV, "")
    ms = float(raw) if raw.strip() else PRODUCER_LINGER_MS
    if ms < 0:
        raise ValueError(f"{PRODUCER_LINGER_ENV}={raw!r}: must be >= 0")
    return ms / 1000.0


@dataclass
class WorkerApp:
    settings: Settings
    app: Any
    topics: Any
    tables: Any
    runtime: Any
    _refs: list[Any] = field(default_factory=list)


def create_app(settings: Settings | None = None, **deps: Any) -> WorkerApp:
    """Build a worker app. ``deps``: ``notetaker``, ``codec``, ``editlog`` (see ``Runtime``)."""
    from casenotes.processors import agents, faust_fixes, web
    from casenotes.processors.tables import Tables
    from casenotes.processors.topics import Topics

    settings = settings or Settings.from_env()
    if settings.embedded_broker:
        from casenotes.processors import embedded

        embedded.apply()
    app = faust.App(settings.app_id, **_app_config(settings))
    faust_fixes.keep_assigned_records_on_resume(app)
    topics = Topics(app, settings)
    tables = Tables(app, settings, topics.names["conversation-events"])
    runtime = agents.Runtime(settings, app, topics, tables, **deps)
    refs = agents.register(app, runtime) + web.register(app, runtime)
    return WorkerApp(settings, app, topics, tables, runtime, refs)
