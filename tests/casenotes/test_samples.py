"""The bundled sample cases: valid case files that cover what the notes pipeline must handle."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from casenotes.casefile import load_case, sample_case_paths

PATHS = sample_case_paths()


def _raw(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_enough_samples_with_conventional_names():
    assert len(PATHS) >= 14
    for p in PATHS:
        prefix, _, rest = p.stem.partition("-")
        assert prefix.isdigit() and len(prefix) == 2 and rest, p.name


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_sample_is_a_valid_realistic_case(path):
    case = load_case(path)  # raises CaseFileError on any format problem
    raw = _raw(path)
    assert 10 <= len(case.events) <= 40
    assert case.metadata.attributes.get("provenance") == "written for casenotes"
    assert {"queue", "product"} <= set(case.metadata.attributes)
    assert {"name", "tier", "account_id"} <= set(case.metadata.customer)
    assert {"name", "team"} <= set(case.metadata.agent)
    assert all(e["ts"].endswith("Z") for e in raw["events"])
    times = [_ts(m.ts) for m in case.events]
    assert all(a < b for a, b in zip(times, times[1:])), "timestamps must strictly increase"
    assert all(m.language for m in case.events)
    roles = {m.role for m in case.events}
    assert {"customer", "agent"} <= roles
    agent_ids = {m.agent_id for m in case.events if m.role == "agent"}
    assert None not in agent_ids, "every agent message names its agent"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_checks_are_well_formed(path):
    checks = _raw(path)["checks"]
    assert set(checks) == {"issue", "resolution"}
    text = " ".join(m.text for m in load_case(path).events).lower()
    for kind in ("issue", "resolution"):
        assert checks[kind], f"{kind} checks must not be empty"
        for group in checks[kind]:
            assert group and all(isinstance(a, str) and a == a.lower() and a.strip() for a in group)
            # A check must be satisfiable from the conversation itself.
            assert any(alt in text for alt in group), f"{kind} group {group} never occurs in {path.name}"


def test_the_set_covers_channels_languages_handoffs_and_domains():
    cases = [load_case(p) for p in PATHS]
    languages = [c.events[0].language for c in cases]
    assert languages.count("fr") >= 3 and languages.count("es") >= 3
    assert languages.count("en") > len(cases) / 2
    mixed = [c for c in cases if len({m.channel for m in c.events}) > 1]
    assert len(mixed) >= 4, "chat->call and email follow-ups in the same case"
    assert {m.channel for c in cases for m in c.events} == {"chat", "call", "email"}
    handoffs = [c for c in cases if len({m.agent_id for m in c.events if m.role == "agent"}) > 1]
    assert len(handoffs) >= 3
    assert any(m.role == "system" and "transfer" in m.text.lower() for c in cases for m in c.events)
    queues = " ".join(c.metadata.attributes["queue"] for c in cases)
    for domain in ("lodging", "retail", "telecom", "banking", "software"):
        assert domain in queues
    calls = " ".join(m.text.lower() for c in cases for m in c.events if m.channel == "call")
    assert " um," in calls and " uh," in calls and "euh" in calls
