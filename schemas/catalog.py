"""The checked-in Avro schemas: current versions plus every released older version.

``<name>.avsc`` is the current version of a schema; ``<name>.v<N>.avsc`` are frozen copies of
released versions (kept flat so they install as package data). Old versions are kept so that
payloads written by older producers still decode, and so that a test can check every change
against all of them (BACKWARD_TRANSITIVE, see README.md).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_NAMES: tuple[str, ...] = (
    "conversation_event", "case_metadata", "agent_edit", "case_note", "edit_log_record", "dead_letter",
)
_VERSION_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


@dataclass(frozen=True)
class AvroSchema:
    """One schema version with everything the codecs need precomputed."""

    name: str  # file stem, e.g. conversation_event
    version: int | None  # None for the current (unreleased or latest) file
    source: dict[str, Any]  # the JSON as checked in (docs included: registered as is)
    parsed: Any  # fastavro's parsed form
    fullname: str  # io.casenotes.ConversationEvent
    canonical: str  # Avro Parsing Canonical Form
    fingerprint: bytes  # CRC-64-AVRO of the canonical form, little-endian (single-object header)

    @property
    def record_name(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]


def load_schema(path: Path, name: str, version: int | None) -> AvroSchema:
    source = json.loads(path.read_text(encoding="utf-8"))
    # A fresh named-type table per file: the same enum (EditAction) is declared in two
    # files and each file must parse on its own.
    parsed = parse_schema(source, named_schemas={})
    canonical = to_parsing_canonical_form(parsed)
    fullname = f"{source.get('namespace', '')}.{source['name']}".lstrip(".")
    return AvroSchema(name, version, source, parsed, fullname, canonical,
                      bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")))


@dataclass(frozen=True)
class SchemaCatalog:
    current: dict[str, AvroSchema]  # name -> current version
    history: dict[str, list[AvroSchema]]  # name -> released versions, oldest first

    @property
    def writers(self) -> dict[bytes, AvroSchema]:
        """Every known writer schema by fingerprint (older versions first, current wins)."""
        out: dict[bytes, AvroSchema] = {}
        for name in self.current:
            for s in [*self.history.get(name, []), self.current[name]]:
                out[s.fingerprint] = s
        return out

    def by_fullname(self, fullname: str) -> AvroSchema | None:
        return next((s for s in self.current.values() if s.fullname == fullname), None)


def load_catalog(schema_dir: Path = SCHEMA_DIR, names: tuple[str, ...] = SCHEMA_NAMES) -> SchemaCatalog:
    current: dict[str, AvroSchema] = {}
    history: dict[str, list[AvroSchema]] = {}
    for name in names:
        path = schema_dir / f"{name}.avsc"
        if not path.is_file():
            raise FileNotFoundError(f"schema file {path} is missing")
        current[name] = load_schema(path, name, None)
    for path in schema_dir.glob("*.v*.avsc"):
        m = _VERSION_FILE.match(path.name)
        if m and m["name"] in current:
            history.setdefault(m["name"], []).append(load_schema(path, m["name"], int(m["version"])))
    for versions in history.values():
        versions.sort(key=lambda s: s.version or 0)
    return SchemaCatalog(current, history)


@lru_cache(maxsize=1)
def default_catalog() -> SchemaCatalog:
    return load_catalog()
