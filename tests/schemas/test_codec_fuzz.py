"""Whatever the bytes, decode either returns a record or raises DecodeError."""
from __future__ import annotations

from schema_samples import FULL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casenotes.schemas import SCHEMA_NAMES, DecodeError, make_codec

CODEC = make_codec("")
VALID = {name: CODEC.encode(name, FULL[name]) for name in SCHEMA_NAMES}
# database=None: no .hypothesis/ directory in the working tree; the inputs are cheap to regenerate.
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_decode_error(data: bytes, name: str | None) -> None:
    try:
        out = CODEC.decode(data, name)
    except DecodeError as exc:
        assert str(exc)  # a reason, never an empty message
    else:
        assert isinstance(out, dict)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([None, *SCHEMA_NAMES]))
def test_random_bytes(data, name):
    _decode_or_decode_error(data, name)


@FUZZ
@given(st.sampled_from(SCHEMA_NAMES), st.binary(max_size=120))
def test_valid_header_random_body(name, body):
    _decode_or_decode_error(VALID[name][:10] + body, name)


@FUZZ
@given(st.sampled_from(SCHEMA_NAMES), st.data())
def test_mutated_valid_payloads(name, data):
    payload = bytearray(VALID[name])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(10, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(10, len(payload)))
    _decode_or_decode_error(bytes(payload[:cut]), name)
