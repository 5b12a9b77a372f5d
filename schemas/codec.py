"""Avro encoding and decoding of every casenotes topic value.

Two wire formats, chosen by ``make_codec(registry_url)``:

* no registry (the embedded default): Avro single-object encoding, ``C3 01`` + the 8-byte
  little-endian CRC-64-AVRO fingerprint of the writer schema's canonical form + the body.
  Writers are resolved against the schemas checked in next to this file (current and
  released older versions), so no service is needed to read a payload.
* with a Confluent Schema Registry: ``00`` + 4-byte big-endian schema id + the body, see
  ``confluent.py``. Such a codec still decodes single-object payloads (useful while moving a
  deployment from one format to the other).

``encode`` raises ``EncodeError`` (a ValueError) on an invalid record; ``decode`` raises
``DecodeError`` (a ValueError) with a human reason on any malformed payload, never another
exception type for bad bytes.
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, validate

from .catalog import SCHEMA_NAMES, AvroSchema, SchemaCatalog, default_catalog

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
CONFLUENT_MAGIC = 0


class DecodeError(ValueError):
    """A payload that cannot be decoded; ``str(err)`` says why in plain words."""


class EncodeError(ValueError):
    """A record that does not match its schema."""


class AvroCodec:
    """Encodes and decodes the records named in ``SCHEMA_NAMES``.

    ``registry`` is a ``RegistryFraming`` (see ``confluent.py``) or None for single-object
    encoding.
    """

    def __init__(self, catalog: SchemaCatalog | None = None, registry: Any = None) -> None:
        self.catalog = catalog or default_catalog()
        self.registry = registry
        self._writers = self.catalog.writers

    # -- encode -------------------------------------------------------------------------
    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        schema = self._schema(name)
        body = encode_body(schema, record)
        if self.registry is not None:
            return self.registry.frame(schema, body)
        return SINGLE_OBJECT_MAGIC + schema.fingerprint + body

    # -- decode -------------------------------------------------------------------------
    def decode(self, data: bytes, name: str | None = None) -> dict[str, Any]:
        """Decode ``data``; ``name`` is the schema this topic carries (None: whatever it is)."""
        expected = self._schema(name) if name is not None else None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"payload is {type(data).__name__}, not bytes")
        data = bytes(data)
        if not data:
            raise DecodeError("empty payload")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < SINGLE_OBJECT_HEADER:
                raise DecodeError(f"truncated single-object header ({len(data)} bytes, need {SINGLE_OBJECT_HEADER})")
            fp = data[2:SINGLE_OBJECT_HEADER]
            writer = self._writers.get(fp)
            if writer is None:
                raise DecodeError(f"unknown schema fingerprint {fp.hex()} (not one of the checked-in schemas)")
            writer_parsed, writer_name, body = writer.parsed, writer.fullname, data[SINGLE_OBJECT_HEADER:]
        elif data[0] == CONFLUENT_MAGIC:
            if self.registry is None:
                raise DecodeError("Confluent Schema Registry framing (magic 0), but no schema registry is configured")
            writer_parsed, writer_name, body = self.registry.unframe(data)
        else:
            raise DecodeError(f"not Avro single-object encoding (starts with 0x{data[:2].hex()}, expected 0xc301)")
        reader = expected or self.catalog.by_fullname(writer_name)
        if reader is not None and reader.fullname != writer_name:
            raise DecodeError(f"payload is {writer_name}, expected {reader.fullname}")
        return decode_body(writer_parsed, reader.parsed if reader else writer_parsed, body, writer_name)

    def _schema(self, name: str) -> AvroSchema:
        try:
            return self.catalog.current[name]
        except KeyError:
            raise ValueError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}") from None


def normalize_record(schema: AvroSchema, record: Any) -> dict[str, Any]:
    """Check the top-level shape of ``record`` and fill defaults; fastavro checks the types.

    Unknown fields are rejected rather than silently dropped: a misspelt optional field
    would otherwise vanish from every message without anyone noticing.
    """
    label = schema.record_name
    if not isinstance(record, dict):
        raise EncodeError(f"{label}: expected a dict, got {type(record).__name__}")
    fields = schema.source["fields"]
    known = {f["name"] for f in fields}
    unknown = sorted(k for k in record if k not in known)
    if unknown:
        raise EncodeError(f"{label}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    out: dict[str, Any] = {}
    for f in fields:
        key = f["name"]
        if key in record:
            value = record[key]
        elif "default" in f:
            value = f["default"]
        else:
            raise EncodeError(f"{label}: missing field {key!r}")
        if isinstance(value, datetime) and value.tzinfo is None:
            raise EncodeError(f"{label}.{key}: naive datetime {value.isoformat()} (give a timezone or int millis)")
        out[key] = value
    return out


def check_record(schema: AvroSchema | str, record: Any) -> dict[str, Any]:
    """``record`` with defaults filled in, or EncodeError saying what does not match."""
    if isinstance(schema, str):
        try:
            schema = default_catalog().current[schema]
        except KeyError:
            raise ValueError(f"unknown schema {schema!r}; expected one of {', '.join(SCHEMA_NAMES)}") from None
    rec = normalize_record(schema, record)
    try:
        validate(rec, schema.parsed, raise_errors=True)
    except ValidationError as exc:
        reasons = "; ".join(str(e) for e in exc.errors) if getattr(exc, "errors", None) else str(exc)
        raise EncodeError(f"{schema.record_name}: {reasons}") from None
    return rec


def encode_body(schema: AvroSchema, record: Any) -> bytes:
    """The Avro binary body of ``record`` (no header), after validation."""
    rec = check_record(schema, record)
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, schema.parsed, rec)
    except Exception as exc:  # validation should catch everything; keep the contract anyway
        raise EncodeError(f"{schema.record_name}: {type(exc).__name__}: {exc}") from None
    return buf.getvalue()


def decode_body(writer: Any, reader: Any, body: bytes, label: str) -> dict[str, Any]:
    record = _read_body(writer, writer, body, label)
    _check_canonical(writer, record, body, label)
    return record if reader is writer or reader == writer else _read_body(writer, reader, body, label)


def _check_canonical(writer: Any, record: dict[str, Any], body: bytes, label: str) -> None:
    """Writing the record back must give the same bytes. fastavro indexes enum symbols and union
    branches with Python lists, so a negative index (-1) silently decodes as the last one; a
    re-encoding exposes it (and any other non-canonical body: padded varints, booleans not 0/1)."""
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, writer, record)
    except Exception:
        raise DecodeError(f"malformed {label} body: its values cannot be written back") from None
    if buf.getvalue() != body:
        raise DecodeError(f"malformed {label} body: not the canonical encoding of its values "
                          f"(a negative enum symbol or union branch index?)")


def _read_body(writer: Any, reader: Any, body: bytes, label: str) -> dict[str, Any]:
    buf = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buf, writer, reader)
    except EOFError as exc:
        detail = f": {exc}" if str(exc) else ""
        raise DecodeError(f"truncated {label} body ({len(body)} bytes){detail}") from None
    except UnicodeDecodeError:
        raise DecodeError(f"a string field of the {label} is not valid UTF-8") from None
    except IndexError:
        raise DecodeError(f"an enum symbol or union branch index of the {label} is out of range") from None
    except SchemaResolutionError as exc:
        raise DecodeError(f"the {label} writer schema cannot be read with the current schema: {exc}") from None
    except Exception as exc:  # corrupt varints, enum/union indexes out of range, resolution
        raise DecodeError(f"malformed {label} body: {type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict):
        raise DecodeError(f"{label} body did not decode to a record")
    left = len(body) - buf.tell()
    if left:
        raise DecodeError(f"{left} unexpected trailing byte(s) after the {label} record")
    return record


def make_codec(registry_url: str = "") -> AvroCodec:
    """Single-object encoding when ``registry_url`` is empty, Confluent framing otherwise."""
    if not registry_url:
        return AvroCodec()
    from .confluent import RegistryFraming  # imports the registry client only when used

    return AvroCodec(registry=RegistryFraming.from_url(registry_url))
