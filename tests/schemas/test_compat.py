"""The evolution rule, enforced on the checked-in schemas against every released version."""
from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path

import fastavro
import pytest
from schema_samples import FULL

from casenotes.schemas import SCHEMA_NAMES, default_catalog
from casenotes.schemas.catalog import SCHEMA_DIR, AvroSchema, load_schema
from casenotes.schemas.compat import backward_problems, optional_fields_without_default

CATALOG = default_catalog()
RELEASED = [(name, old) for name in SCHEMA_NAMES for old in CATALOG.history.get(name, [])]


def test_every_schema_has_a_released_version():
    assert set(CATALOG.history) == set(SCHEMA_NAMES)


@pytest.mark.parametrize("name, old", RELEASED, ids=[f"{n}.v{o.version}" for n, o in RELEASED])
def test_current_schema_is_backward_compatible_with_every_release(name, old):
    assert backward_problems(old, CATALOG.current[name]) == []


@pytest.mark.parametrize("name, old", RELEASED, ids=[f"{n}.v{o.version}" for n, o in RELEASED])
def test_current_reader_reads_data_of_every_release(name, old):
    """The same promise, checked by Avro resolution itself on a real record."""
    record = {f["name"]: FULL[name][f["name"]] for f in old.source["fields"] if f["name"] in FULL[name]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old.parsed, record)
    buf.seek(0)
    out = fastavro.schemaless_reader(buf, old.parsed, CATALOG.current[name].parsed)
    assert {k: out[k] for k in record} == record


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_nullable_fields_default_to_null(name):
    assert optional_fields_without_default(CATALOG.current[name]) == []


def test_released_files_are_never_edited():
    """released.json pins the fingerprint of every released file: a release is immutable
    (producers out there still write it). Add a line when you add a .v<N>.avsc file."""
    pinned = json.loads((SCHEMA_DIR / "released.json").read_text())
    actual = {f"{o.name}.v{o.version}.avsc": o.fingerprint.hex() for _, o in RELEASED}
    assert actual == pinned


# --- the checker itself: each forbidden change is caught -----------------------------------
def _variant(edit) -> AvroSchema:
    source = json.loads((SCHEMA_DIR / "conversation_event.avsc").read_text())
    edit(source)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "conversation_event.avsc"
        path.write_text(json.dumps(source))
        return load_schema(path, "conversation_event", None)


def _field(source, name):
    return next(f for f in source["fields"] if f["name"] == name)


OLD = CATALOG.current["conversation_event"]


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s["fields"].append({"name": "priority", "type": "int"}), "priority: added without a default"),
    (lambda s: s["fields"].remove(_field(s, "text")), "text: removed, but it has no default"),
    (lambda s: _field(s, "text").update(name="body"), "text: removed"),
    (lambda s: _field(s, "text").update(type="bytes"), "text: type changed string -> bytes"),
    (lambda s: _field(s, "ts").update(type="long"), "ts: type changed timestamp-millis -> long"),
    (lambda s: _field(s, "agent_id").update(type=["string", "null"]), "agent_id\\[0\\]: type changed"),
    (lambda s: _field(s, "channel")["type"].update(symbols=["call", "chat", "email"]), "symbols may only be appended"),
    (lambda s: _field(s, "channel")["type"].update(name="Medium"), "enum renamed"),
    (lambda s: s.update(name="ChatEvent"), "record renamed"),
])
def test_forbidden_changes_are_reported(edit, problem):
    problems = backward_problems(OLD, _variant(edit))
    assert problems and any(re.search(problem, p) for p in problems), problems


@pytest.mark.parametrize("edit", [
    lambda s: s["fields"].append({"name": "priority", "type": ["null", "int"], "default": None}),
    lambda s: s["fields"].remove(_field(s, "language")),
    lambda s: _field(s, "channel")["type"]["symbols"].append("sms"),
    lambda s: _field(s, "text").update(doc="changed docs"),
])
def test_allowed_changes_pass(edit):
    assert backward_problems(OLD, _variant(edit)) == []


def test_nullable_field_without_null_default_is_reported():
    bad = _variant(lambda s: _field(s, "language").pop("default"))
    assert optional_fields_without_default(bad) == ["language"]
