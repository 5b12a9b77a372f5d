from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timezone

import fastavro
import pytest
from schema_samples import FULL, MINIMAL, TS

from casenotes.schemas import SCHEMA_NAMES, AvroCodec, DecodeError, EncodeError, load_catalog, make_codec
from casenotes.schemas.catalog import SCHEMA_DIR, load_schema


@pytest.fixture(scope="module")
def codec():
    return make_codec("")


def _crc64_avro(data: bytes) -> int:
    """The reference algorithm from the Avro specification, independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_full_record_round_trips(codec, name):
    data = codec.encode(name, FULL[name])
    assert codec.decode(data, name) == FULL[name]
    assert codec.decode(data) == FULL[name]  # the header alone identifies the schema


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_omitted_optional_fields_decode_as_defaults(codec, name):
    decoded = codec.decode(codec.encode(name, MINIMAL[name]), name)
    schema = load_catalog().current[name]
    for f in schema.source["fields"]:
        if f["name"] not in MINIMAL[name]:
            assert decoded[f["name"]] == f["default"]


def test_header_is_single_object_encoding_with_spec_fingerprint(codec):
    schema = load_catalog().current["conversation_event"]
    data = codec.encode("conversation_event", FULL["conversation_event"])
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == _crc64_avro(schema.canonical.encode()).to_bytes(8, "little")
    # Known vector from the Avro test suite: fingerprint64("null") = 7195948357588979594.
    assert _crc64_avro(b'"null"') == 7195948357588979594
    # The body is plain Avro binary that any Avro library reads with the .avsc file.
    parsed = fastavro.parse_schema(json.loads((SCHEMA_DIR / "conversation_event.avsc").read_text()))
    assert fastavro.schemaless_reader(io.BytesIO(data[10:]), parsed) == FULL["conversation_event"]


def test_timestamps_accept_int_millis_and_decode_aware(codec):
    rec = dict(FULL["agent_edit"], ts=1_700_000_000_123)
    out = codec.decode(codec.encode("agent_edit", rec), "agent_edit")
    assert out["ts"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert out["ts"].tzinfo is not None


@pytest.mark.parametrize("change, reason", [
    ({"ts": datetime(2024, 1, 1)}, "naive datetime"),
    ({"text": 5}, "ConversationEvent.text"),
    ({"channel": "sms"}, "channel"),
    ({"langauge": "en"}, "unknown field 'langauge'"),
    ({"ts": 2**70}, "ts"),
])
def test_encode_rejects_invalid_records(codec, change, reason):
    with pytest.raises(EncodeError, match=reason):
        codec.encode("conversation_event", dict(FULL["conversation_event"], **change))


def test_encode_rejects_missing_field_unknown_schema_and_non_dict(codec):
    rec = {k: v for k, v in FULL["conversation_event"].items() if k != "text"}
    with pytest.raises(ValueError, match="missing field 'text'"):
        codec.encode("conversation_event", rec)
    with pytest.raises(ValueError, match="unknown schema 'note'"):
        codec.encode("note", {})
    with pytest.raises(ValueError, match="expected a dict"):
        codec.encode("case_note", [1, 2])


def _valid(codec):
    return codec.encode("conversation_event", FULL["conversation_event"])


@pytest.mark.parametrize("mangle, reason", [
    (lambda d: b"", "empty payload"),
    (lambda d: d[:6], "truncated single-object header"),
    (lambda d: d[:-3], "truncated"),
    (lambda d: d + b"\x00", "trailing byte"),
    (lambda d: b'{"case_id": "C-1"}', "not Avro single-object encoding"),
    (lambda d: b"\x00\x00\x00\x00\x01" + d[10:], "no schema registry is configured"),
    (lambda d: d[:2] + b"\x01" * 8 + d[10:], "unknown schema fingerprint 0101010101010101"),
    (lambda d: d[:10] + b"\x08\xff\xfe\xfd\xfc" + d[14:], "not valid UTF-8"),
    # Body layout: case_id d[10:14], message_id d[14:17], channel d[17], role d[18], agent_id union d[19].
    (lambda d: d[:17] + b"\x0a" + d[18:], "enum symbol or union branch index .* out of range"),
    (lambda d: d[:19] + b"\x06" + d[20:], "enum symbol or union branch index .* out of range"),
    # Zigzag 0x01 is -1: fastavro would index symbols[-1] ("email", the union's last branch).
    (lambda d: d[:17] + b"\x01" + d[18:], "negative enum symbol or union branch index"),
    (lambda d: d[:18] + b"\x01" + d[19:], "negative enum symbol or union branch index"),
    (lambda d: d[:19] + b"\x01" + d[20:], "not the canonical encoding|malformed"),
    (lambda d: d[:17] + b"\x80\x00" + d[18:], "not the canonical encoding"),  # a padded varint 0
])
def test_decode_reports_malformed_payloads(codec, mangle, reason):
    assert _valid(codec)[17:20] == b"\x00\x00\x02"  # chat, customer, a string agent_id
    with pytest.raises(DecodeError, match=reason):
        codec.decode(mangle(_valid(codec)), "conversation_event")


def test_decode_rejects_other_record_type_and_non_bytes(codec):
    with pytest.raises(DecodeError, match="payload is io.casenotes.ConversationEvent, expected io.casenotes.AgentEdit"):
        codec.decode(_valid(codec), "agent_edit")
    with pytest.raises(DecodeError, match="not bytes"):
        codec.decode("text", "conversation_event")
    assert codec.decode(bytearray(_valid(codec)), "conversation_event")["case_id"] == "C-1"


def _older_catalog(tmp_path, v1_source):
    for path in SCHEMA_DIR.glob("*.avsc"):
        if ".v" not in path.name:
            shutil.copy(path, tmp_path / path.name)
    (tmp_path / "conversation_event.v1.avsc").write_text(json.dumps(v1_source))
    return load_catalog(tmp_path)


def _v1_payload(tmp_path, record):
    v1 = load_schema(tmp_path / "conversation_event.v1.avsc", "conversation_event", 1)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v1.parsed, record)
    return b"\xc3\x01" + v1.fingerprint + buf.getvalue()


def test_decodes_older_writer_version_into_current_shape(tmp_path):
    source = json.loads((SCHEMA_DIR / "conversation_event.avsc").read_text())
    source["fields"] = [f for f in source["fields"] if f["name"] != "language"]  # v1 had no language
    codec = AvroCodec(_older_catalog(tmp_path, source))
    old = {k: v for k, v in FULL["conversation_event"].items() if k != "language"}
    assert codec.decode(_v1_payload(tmp_path, old), "conversation_event") == dict(old, language=None)


def test_unresolvable_older_writer_is_a_decode_error(tmp_path):
    source = json.loads((SCHEMA_DIR / "conversation_event.avsc").read_text())
    source["fields"] = [f for f in source["fields"] if f["name"] != "text"]  # would break the rule
    codec = AvroCodec(_older_catalog(tmp_path, source))
    old = {k: v for k, v in FULL["conversation_event"].items() if k != "text"}
    with pytest.raises(DecodeError, match="cannot be read with the current schema"):
        codec.decode(_v1_payload(tmp_path, old), "conversation_event")


def test_every_optional_timestamp_field_round_trips_through_ts_edges(codec):
    for ts in (0, TS, datetime(9999, 12, 31, tzinfo=timezone.utc)):
        rec = dict(FULL["case_metadata"], ts=ts)
        out = codec.decode(codec.encode("case_metadata", rec), "case_metadata")
        assert out["ts"] == (datetime.fromtimestamp(0, timezone.utc) if ts == 0 else ts)
