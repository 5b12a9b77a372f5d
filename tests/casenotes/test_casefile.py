import json

import pytest

from casenotes.casefile import CaseFileError, load_case, load_samples, parse_case


def case(**over):
    d = {"case_id": "c1", "metadata": {"customer": {"name": "Ana", "tier": 2}},
         "events": [{"message_id": "m1", "channel": "chat", "role": "customer", "text": "hi", "ts": "2026-01-01T10:00:00Z"}]}
    d.update(over)
    return d


def test_parse_valid_case_and_stringify_metadata():
    c = parse_case(case())
    assert c.case_id == "c1" and c.events[0].text == "hi" and c.metadata.customer == {"name": "Ana", "tier": "2"}


@pytest.mark.parametrize("events,error", [
    ([], "non-empty"),
    ([{"message_id": "m1", "channel": "fax", "role": "customer", "text": "x", "ts": "2026-01-01T10:00:00Z"}], "channel"),
    ([{"message_id": "m1", "channel": "chat", "role": "bot", "text": "x", "ts": "2026-01-01T10:00:00Z"}], "role"),
    ([{"message_id": "m1", "channel": "chat", "role": "agent", "text": "x", "ts": "yesterday"}], "ISO-8601"),
    ([{"message_id": "m1", "channel": "chat", "role": "agent", "ts": "2026-01-01T10:00:00Z"}], "missing text"),
])
def test_invalid_events_are_reported_with_their_position(events, error):
    with pytest.raises(CaseFileError, match=error):
        parse_case(case(events=events))


def test_duplicate_message_ids_are_refused(tmp_path):
    ev = case()["events"][0]
    p = tmp_path / "c.json"
    p.write_text(json.dumps(case(events=[ev, ev])))
    with pytest.raises(CaseFileError, match="duplicate"):
        load_case(p)


def test_samples_cover_the_required_mix():
    samples = load_samples()
    assert len(samples) >= 12
    channels = {m.channel for c in samples for m in c.events}
    langs = {m.language for c in samples for m in c.events}
    assert channels == {"chat", "call", "email"}
    assert {"en", "fr", "es"} <= langs
    assert any(len({m.channel for m in c.events}) > 1 for c in samples), "a case spanning channels"
    assert any(len({m.agent_id for m in c.events if m.role == "agent"}) > 1 for c in samples), "a hand-off"
