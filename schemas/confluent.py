"""Confluent Schema Registry framing: ``00`` + 4-byte big-endian schema id + Avro body.

Subject naming is topic-agnostic: every schema is registered under
``casenotes.<RecordName>-value`` (e.g. ``casenotes.ConversationEvent-value``), whatever topic
or prefix carries it. A record type then has one version history even when several
deployments (topic prefixes) or topics (the dead-letter topic) share a registry. Ids are
registered on first use and cached; writer schemas fetched by id are cached too.
"""
from __future__ import annotations

import json
import struct
import threading
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from fastavro.schema import parse_schema

from .catalog import AvroSchema, SchemaCatalog
from .codec import CONFLUENT_MAGIC, DecodeError

HEADER = struct.Struct(">bI")
SUBJECT_PREFIX = "casenotes."
COMPATIBILITY = "BACKWARD_TRANSITIVE"
_SCHEMA_NOT_FOUND = 40403  # Schema Registry error code for an unknown id


def subject_for(schema: AvroSchema) -> str:
    return f"{SUBJECT_PREFIX}{schema.record_name}-value"


class RegistryFraming:
    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self._ids: dict[str, int] = {}  # schema name -> registered id
        self._writers: dict[int, tuple[Any, str]] = {}  # id -> (parsed writer schema, fullname)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, client_conf: dict[str, Any] | None = None) -> "RegistryFraming":
        """``client_conf``: extra SchemaRegistryClient settings (auth, ``max.retries``, ...)."""
        return cls(SchemaRegistryClient({"url": url, **(client_conf or {})}))

    def schema_id(self, schema: AvroSchema) -> int:
        """Register ``schema`` under its subject (once per process) and return its id."""
        with self._lock:
            sid = self._ids.get(schema.name)
            if sid is None:
                sid = self.client.register_schema(subject_for(schema), Schema(json.dumps(schema.source), "AVRO"))
                self._ids[schema.name] = sid
                self._writers[sid] = (schema.parsed, schema.fullname)
            return sid

    def frame(self, schema: AvroSchema, body: bytes) -> bytes:
        return HEADER.pack(CONFLUENT_MAGIC, self.schema_id(schema)) + body

    def unframe(self, data: bytes) -> tuple[Any, str, bytes]:
        """(writer schema, its full name, body) of a framed payload.

        An unknown id is a DecodeError; an unreachable registry raises the client's error so
        that the caller retries instead of discarding a good payload.
        """
        if len(data) < HEADER.size:
            raise DecodeError(f"truncated Schema Registry header ({len(data)} bytes, need {HEADER.size})")
        _, sid = HEADER.unpack_from(data)
        writer = self._writers.get(sid)
        if writer is None:
            writer = self._fetch(sid)
        return writer[0], writer[1], data[HEADER.size:]

    def _fetch(self, sid: int) -> tuple[Any, str]:
        try:
            registered = self.client.get_schema(sid)
        except SchemaRegistryError as exc:
            if exc.error_code == _SCHEMA_NOT_FOUND or exc.http_status_code == 404:
                raise DecodeError(f"unknown schema id {sid} (not in the schema registry)") from None
            raise
        if (registered.schema_type or "AVRO") != "AVRO":
            raise DecodeError(f"schema id {sid} is a {registered.schema_type} schema, not Avro")
        try:
            source = json.loads(registered.schema_str)
            parsed = parse_schema(source, named_schemas={})
        except Exception as exc:
            raise DecodeError(f"schema id {sid} is not a valid Avro schema: {exc}") from None
        fullname = f"{source.get('namespace', '')}.{source.get('name', '')}".strip(".") if isinstance(source, dict) else str(source)
        with self._lock:
            self._writers[sid] = (parsed, fullname)
        return parsed, fullname

    def set_compatibility(self, catalog: SchemaCatalog, level: str = COMPATIBILITY) -> list[str]:
        """Set every casenotes subject's compatibility level (an ops step; idempotent)."""
        subjects = [subject_for(s) for s in catalog.current.values()]
        for subject in subjects:
            self.client.set_compatibility(subject, level)
        return subjects
