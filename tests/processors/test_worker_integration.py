"""End-to-end: the real embedded broker, a real worker process (Faust, RocksDB tables), the
extractive engine, Avro on the wire. Each test gets its own topics, consumer group and state."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict

import pytest

from casenotes.casefile import load_samples
from casenotes.editlog.sqlite import SQLiteEditLog
from casenotes.replay import Publisher, replay
from casenotes.testing import TopicReader, WorkerProcess, get_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.fixture
def reader(stack_settings):
    """Open TopicReaders on this stack's topics; all closed at teardown (even on failure)."""
    opened = []

    def open_reader(topic, schema=None):
        opened.append(TopicReader(stack_settings, topic, schema))
        return opened[-1]
    yield open_reader
    for r in opened:
        r.close()


@pytest.fixture
def worker(stack_settings, tmp_path):
    w = WorkerProcess(stack_settings, tmp_path / "worker.log")
    yield w
    w.stop()


def added_notes(reader):
    return [n for n in reader.records if n["status"] == "added"]


def test_interleaved_cases_get_notes_in_order_per_case(stack_settings, worker, reader):
    cases = load_samples()[:4]
    worker.start()
    replay(stack_settings, cases, speed=0)  # all cases interleaved, as fast as possible
    for c in cases:
        worker.wait_covered(c.case_id, len(c.events), timeout=120)
    notes = reader("notes", "case_note")
    total = sum(worker.case(c.case_id)["bullets"] for c in cases)
    notes.wait_until(lambda recs: len([r for r in recs if r["status"] == "added"]) >= total, timeout=30)
    by_case = defaultdict(list)
    for n in added_notes(notes):
        by_case[n["case_id"]].append(n["seq"])
    assert set(by_case) == {c.case_id for c in cases}, "every case gets notes"
    for case_id, seqs in by_case.items():
        assert seqs == sorted(seqs) and seqs == list(range(1, len(seqs) + 1)), f"{case_id}: out of order {seqs}"
    # The HTTP side: JSON per case, the live page, Prometheus metrics.
    import urllib.request
    listing = get_json(f"{worker.base_url}/cases/")
    assert {c["case_id"] for c in listing["cases"]} == {c.case_id for c in cases}
    page = urllib.request.urlopen(f"{worker.base_url}/", timeout=5).read().decode()
    assert "<html" in page and "/cases/" in page
    metrics_text = urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=5).read().decode()
    count = next(float(line.split()[-1]) for line in metrics_text.splitlines()
                 if line.startswith("casenotes_message_to_note_seconds_count"))
    assert count == sum(len(c.events) for c in cases)
    assert 'casenotes_bullets_total{label="unclassified",outcome="kept"}' in metrics_text
    assert 'classifier="passthrough"' in metrics_text and "casenotes_models_info{" in metrics_text
    # The debug page: what the consumer and the agent have seen, per partition.
    debug = get_json(f"{worker.base_url}/debug/")
    events = stack_settings.topic("conversation-events")
    assert any(k.startswith(events) for k in debug["consumer"]["assignment"])
    client = debug["kafka_client"]["partitions"]
    handled = {k: v for k, v in debug["handled"].items() if k.startswith(events)}
    assert handled and all(client[k]["position"] > offset for k, offset in handled.items()), (handled, client)
    assert debug["ready"] is True and isinstance(debug["loop_tasks"], list) and debug["loop_tasks"]


def test_agent_edit_reaches_the_next_engine_call_and_is_logged(stack_settings, worker, reader):
    case = load_samples()[0]
    first, rest = case.events[:6], case.events[6:]
    worker.start()
    pub = Publisher(stack_settings)
    pub.metadata(case)
    for m in first:
        pub.message(case.case_id, m)
    pub.flush()
    state = worker.wait_covered(case.case_id, len(first))
    target = next(n for n in state["notes"] if n["status"] == "active")
    edited_text = "EDITED BY AGENT: " + target["text"]
    pub.edit(case.case_id, "edit", target["bullet_id"], edited_text, agent_id="agent-42", edit_id="edit-1")
    pub.flush()

    notes = reader("notes", "case_note")
    notes.wait_until(lambda recs: any(r["status"] == "edited" and r["bullet_id"] == target["bullet_id"] for r in recs))
    # The next message's note-taking call must see the edited text among the accepted bullets.
    pub.message(case.case_id, rest[0])
    pub.flush()
    worker.wait_covered(case.case_id, len(first) + 1)
    # What the engine saw on that call (engine results no longer travel through a topic).
    call = worker.case(case.case_id)["last_call"]
    assert call["last_message_id"] == rest[0].message_id
    if not call["skipped"]:
        assert edited_text in call["prefix"]
        assert target["text"] not in call["prefix"]
    after = worker.case(case.case_id)
    bullet = next(n for n in after["notes"] if n["bullet_id"] == target["bullet_id"])
    assert bullet["text"] == edited_text and bullet["edited"], "generation never overwrites an edited bullet"

    log = SQLiteEditLog(stack_settings.sqlite_file)
    import asyncio

    async def read():
        await log.open()
        try:
            return await log.for_case(case.case_id)
        finally:
            await log.close()
    (record,) = asyncio.run(read())
    assert record["before"] == target["text"] and record["after"] == edited_text
    assert record["agent_id"] == "agent-42" and record["bullet_id"] == target["bullet_id"]
    context = json.loads(record["generation_context"])
    assert context["history"] and context["history"][-1]["message_id"] == target["trigger_message_id"]


def test_sigkill_mid_stream_then_restart_covers_everything_without_conflicting_notes(stack_settings, worker, reader):
    """Delivery is at-least-once (README): a kill between "notes acked" and "state saved" may
    re-publish a bullet, but always identical (same id, version, text), so consumers that upsert by
    (bullet_id, version) see each bullet once. A *conflict* (one id, two texts) is the bug."""
    cases = load_samples()[:6]
    worker.start()
    notes = reader("notes", "case_note")
    publisher = threading.Thread(target=replay, args=(stack_settings, cases), kwargs={"speed": 40, "max_gap": 0.15})
    publisher.start()
    notes.wait_until(lambda recs: len(recs) >= 8, timeout=120)  # mid-stream
    worker.kill()
    killed_at = len(notes.records)
    time.sleep(0.5)
    worker.start()
    publisher.join(120)
    for c in cases:
        worker.wait_covered(c.case_id, len(c.events), timeout=180)
    expected = sum(worker.case(c.case_id)["bullets"] for c in cases)
    notes.wait_until(lambda recs: len({r["bullet_id"] for r in recs if r["status"] == "added"}) >= expected, 60)
    notes.poll(2.0)
    versions: dict[tuple[str, int], set[tuple]] = {}
    for n in added_notes(notes):
        versions.setdefault((n["bullet_id"], n["version"]), set()).add((n["text"], n["seq"], n["label"]))
    conflicts = {k: v for k, v in versions.items() if len(v) > 1}
    assert not conflicts, f"one bullet id and version, different notes: {conflicts}"
    republished = sum(Counter(n["bullet_id"] for n in added_notes(notes)).values()) - len(versions)
    print(f"re-published after the kill (identical, at-least-once): {republished}")
    assert killed_at < len(notes.records), "the restarted worker went on producing notes"
    for c in cases:
        info = worker.case(c.case_id)
        assert info["covered"] == len(c.events)
        seqs = sorted(n["seq"] for n in info["notes"])
        assert seqs == list(range(1, len(seqs) + 1))


def test_poison_messages_go_to_dead_letters_and_the_worker_goes_on(stack_settings, worker, reader):
    case = load_samples()[1]
    worker.start()
    pub = Publisher(stack_settings)
    pub.raw("conversation-events", case.case_id.encode(), b"\x00\x01not avro at all")
    pub.raw("conversation-events", case.case_id.encode(), b"\xc3\x01" + b"\x00" * 8 + b"garbage")
    pub.edit(case.case_id, "edit", f"{case.case_id}:9999", "text", edit_id="bad-edit")  # unknown case/bullet
    long_message = case.events[0].__class__(**{**case.events[0].to_dict(), "message_id": "too-long",
                                               "text": "x" * (stack_settings.max_text_chars + 1)})
    pub.message(case.case_id, long_message)
    pub.metadata(case)
    for m in case.events:
        pub.message(case.case_id, m)
    pub.flush()
    worker.wait_covered(case.case_id, len(case.events), timeout=120)
    dlq = reader("dead-letters", "dead_letter")
    recs = dlq.wait_until(lambda rs: len(rs) >= 4, timeout=30)
    reasons = " | ".join(r["reason"] for r in recs)
    assert "over the limit" in reasons
    assert "unknown case" in reasons or "unknown bullet" in reasons
    assert all(r["topic"].endswith(("conversation-events", "agent-edits")) and r["value"] for r in recs)
    assert worker.proc.poll() is None, "the worker is still running"
    assert worker.case(case.case_id)["bullets"] > 0
