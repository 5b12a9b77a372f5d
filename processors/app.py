"""The one Faust ``App`` of the worker, configured from ``casenotes.settings.Settings``.

Topics, tables, agents and web pages are declared in their own small modules; importing
``casenotes.processors.worker`` wires them all onto this app.
"""
from __future__ import annotations

import faust

from casenotes.settings import Settings

settings = Settings.from_env()


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
        # Table keys (case ids) and values (state dicts) are JSON; topics set their own (raw bytes).
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
        # Embedded tansu only (see processors/embedded.py): one record per producer batch keeps
        # its ListOffsets answers right for Faust's changelog recovery. Not needed on real Kafka.
        config["producer_max_batch_size"] = 1
    return config


if settings.embedded_broker:
    from casenotes.processors import embedded

    embedded.apply()

app = faust.App(settings.app_id, **_app_config(settings))
