"""Intake validation and dead letters, without Faust (issue 11, findings 1 and 2).

Before: an empty case_id created case "" (pending forever), an empty message_id made every
later message of the case look like a redelivery, a record keyed or partitioned away from its
case_id split the case across partitions, and a 10 MB record's dead letter was itself too big
to send (the record was skipped, unrecorded).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from casenotes.processors.handler import InvalidEvent, MisroutedEvent, REQUIRED_IDS, check_intake
from casenotes.schemas import make_codec, wire

TS = datetime(2026, 1, 1, tzinfo=timezone.utc)
N = 4
CASE = "case-17"
RIGHT = wire.partition_for(CASE, N)
WRONG = (RIGHT + 1) % N

MESSAGE = {"case_id": CASE, "message_id": "m1", "channel": "chat", "role": "customer", "agent_id": None,
           "text": "hello", "ts": TS, "language": "en"}
METADATA = {"case_id": CASE, "customer": {}, "agent": {}, "attributes": {}, "ts": TS}
EDIT = {"edit_id": "e1", "case_id": CASE, "bullet_id": f"{CASE}:0001", "action": "edit", "text": "x",
        "agent_id": "a", "ts": TS}
RECORDS = {"message": MESSAGE, "metadata": METADATA, "edit": EDIT}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_well_formed_record_on_its_partition_passes(kind):
    check_intake(kind, RECORDS[kind], CASE.encode(), RIGHT, N)


@pytest.mark.parametrize("kind,field", [(k, f) for k, names in REQUIRED_IDS.items() for f in names])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_every_input_topic_rejects_blank_ids(kind, field, value):
    rec = {**RECORDS[kind], field: value}
    with pytest.raises(InvalidEvent, match=f"{field} is empty"):
        check_intake(kind, rec, CASE.encode(), RIGHT, N)


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_an_edit_or_delete_needs_a_bullet_id(action):
    with pytest.raises(InvalidEvent, match="bullet_id is empty"):
        check_intake("edit", {**EDIT, "action": action, "bullet_id": None}, CASE.encode(), RIGHT, N)
    check_intake("edit", {**EDIT, "action": "add", "bullet_id": None}, CASE.encode(), RIGHT, N)


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_key_that_is_not_the_case_id_is_misrouted(kind):
    with pytest.raises(MisroutedEvent, match="does not match case_id"):
        check_intake(kind, RECORDS[kind], b"another-case", RIGHT, N)
    with pytest.raises(MisroutedEvent, match="no key"):
        check_intake(kind, RECORDS[kind], None, RIGHT, N)


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_the_right_key_on_the_wrong_partition_is_misrouted(kind):
    with pytest.raises(MisroutedEvent, match=f"partition {WRONG}, but murmur2 .* partition {RIGHT} of {N}"):
        check_intake(kind, RECORDS[kind], CASE.encode(), WRONG, N)


def test_partition_for_is_the_producers_murmur2():
    from aiokafka.partitioner import DefaultPartitioner

    for case in ("a", "case-17", "ÉTÉ-42", "x" * 300):
        assert wire.partition_for(case, 4) == DefaultPartitioner()(case.encode(), [0, 1, 2, 3], [0, 1, 2, 3])


def test_a_10_mb_value_makes_a_dead_letter_that_fits_with_size_and_digest():
    value = b"\xc3\x01" + b"x" * 10_000_000
    key = b"k" * 20_000
    rec = wire.dead_letter("t.conversation-events", 2, 7, key, value, "r" * 50_000, "InvalidEvent")
    assert rec["truncated"] and rec["value_bytes"] == len(value) and rec["key_bytes"] == len(key)
    assert rec["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert rec["value"] == value[:wire.MAX_DEAD_LETTER_VALUE_BYTES]
    assert len(rec["key"]) == wire.MAX_DEAD_LETTER_KEY_BYTES and rec["reason"].endswith("[reason truncated]")
    encoded = make_codec(None).encode("dead_letter", rec)
    assert len(encoded) < 300_000, "under the producer's 1,000,000-byte request limit"
    back = make_codec(None).decode(encoded, "dead_letter")
    assert back["value_sha256"] == rec["value_sha256"] and back["truncated"]


def test_a_small_record_is_kept_byte_for_byte():
    rec = wire.dead_letter("t", 0, 1, b"c1", b"\x00\x01bytes", "why", "DecodeError")
    assert rec["value"] == b"\x00\x01bytes" and rec["key"] == b"c1" and not rec["truncated"]
    assert rec["value_bytes"] == 7 and rec["key_bytes"] == 2
    assert wire.dead_letter("t", 0, 1, None, b"", "why", "X")["key_bytes"] is None
