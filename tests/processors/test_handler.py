"""The case handler without Faust: event in, effects out, with an in-memory store and fakes."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from casenotes.processors.handler import CaseHandler, InvalidEvent, Limits, MemoryStore
from casenotes.state import EditError, NoteResult, Proposal

TS = datetime(2026, 1, 1, tzinfo=timezone.utc)


def event(case="c1", i=1, text="my order 123 arrived broken", role="customer"):
    return {"case_id": case, "message_id": f"m{i}", "channel": "chat", "role": role, "agent_id": None,
            "text": text, "ts": TS, "language": "en"}


class Fakes:
    def __init__(self):
        self.store = MemoryStore()
        self.published, self.notified, self.logged = [], [], []
        self.fail_publish_at = None

    async def publish(self, case_id, changes):
        for change in changes:
            if self.fail_publish_at is not None and len(self.published) == self.fail_publish_at:
                raise ConnectionError("broker gone")
            # Publish before save: the state that holds this bullet is not saved yet.
            saved = self.store.load(case_id, 0)
            assert saved is None or saved.bullet(change.bullet.bullet_id) is None or change.status != "added"
            self.published.append((change.bullet.bullet_id, change.bullet.version, change.bullet.text,
                                   change.status))

    async def write(self, record):
        self.logged.append(record)

    def handler(self, **kw):
        return CaseHandler(self.store, self.publish, self, self.notified.append, Limits(max_text_chars=100),
                           clock=lambda: 1000, **kw)


def result(last="m1", *texts, case="c1"):
    return NoteResult(case, last, tuple(Proposal(t) for t in texts), engine="e", context={"message_ids": [last]})


async def test_message_is_saved_once_and_the_scheduler_notified():
    f = Fakes()
    h = f.handler()
    assert await h.on_message(event(), 0, 900)
    assert not await h.on_message(event(), 0, 950), "redelivery"
    assert f.notified == ["c1"] and f.store.pending == {"c1": 0}
    state = f.store.load("c1", 0)
    assert state.received_ms == [900]


@pytest.mark.parametrize("rec,reason", [
    (event(text="x" * 101), "over the limit"),
    (event(text="   "), "empty"),
    ({**event(), "case_id": "c" * 600}, "case_id is 600 characters"),
])
async def test_bad_messages_are_rejected_with_a_reason(rec, reason):
    with pytest.raises(InvalidEvent, match=reason):
        await Fakes().handler().on_message(rec, 0)


async def test_result_publishes_then_saves_and_clears_the_inflight_entry():
    f = Fakes()
    h = f.handler()
    await h.on_message(event(), 0)
    changes = await h.apply_result(result("m1", "Order 123 arrived broken"), 0)
    assert [c.bullet.bullet_id for c in changes] == ["c1:0001"]
    assert f.published == [("c1:0001", 1, "Order 123 arrived broken", "added")]
    assert f.store.inflight == {} and f.store.pending == {}
    assert f.store.load("c1", 0).bullet("c1:0001").text == "Order 123 arrived broken"


async def test_a_crash_while_publishing_re_applies_the_same_result():
    f = Fakes()
    h = f.handler()
    await h.on_message(event(), 0)
    f.fail_publish_at = 1  # the second bullet's publish fails (the worker dies there)
    with pytest.raises(ConnectionError):
        await h.apply_result(result("m1", "first point", "second point"), 0)
    assert f.store.inflight, "the result is kept for a retry"
    assert f.store.load("c1", 0).next_seq == 1, "nothing saved"
    f.fail_publish_at = None
    assert await f.handler().resume_inflight("c1", 0)
    assert [p[0] for p in f.published] == ["c1:0001", "c1:0001", "c1:0002"], "same ids, same texts"
    assert {p[2] for p in f.published} == {"first point", "second point"}
    assert f.store.inflight == {} and f.store.load("c1", 0).next_seq == 3


async def test_edit_logs_then_publishes_then_saves():
    f = Fakes()
    h = f.handler()
    await h.on_message(event(), 0)
    await h.apply_result(result("m1", "first point"), 0)
    change = await h.on_edit({"edit_id": "e1", "case_id": "c1", "bullet_id": "c1:0001", "action": "edit",
                              "text": "first point, fixed", "agent_id": "a", "ts": TS}, 0)
    assert change.status == "edited" and f.logged[0]["before"] == "first point"
    assert '"prefix_bullets": []' in f.logged[0]["generation_context"]
    assert f.published[-1] == ("c1:0001", 2, "first point, fixed", "edited")
    assert f.store.load("c1", 0).bullet("c1:0001").version == 2
    with pytest.raises(EditError, match="unknown case"):
        await h.on_edit({"edit_id": "e2", "case_id": "nope", "bullet_id": "x", "action": "delete", "ts": TS}, 0)


async def test_changes_of_one_case_never_interleave():
    """An engine result arriving while an edit waits for the edit log must not be lost."""
    f = Fakes()
    gate = asyncio.Event()

    async def slow_write(record):
        await gate.wait()
        f.logged.append(record)
    f.write = slow_write
    h = f.handler()
    await h.on_message(event(), 0)
    await h.apply_result(result("m1", "first point"), 0)
    await h.on_message(event(i=2, text="also the charger is missing"), 0)
    edit = asyncio.create_task(h.on_edit({"edit_id": "e1", "case_id": "c1", "bullet_id": "c1:0001",
                                          "action": "delete", "ts": TS}, 0))
    await asyncio.sleep(0.01)
    res = asyncio.create_task(h.apply_result(result("m2", "charger missing"), 0))
    await asyncio.sleep(0.01)
    assert not res.done(), "waits for the edit of the same case"
    gate.set()
    await asyncio.gather(edit, res)
    state = f.store.load("c1", 0)
    assert state.bullet("c1:0001").status == "deleted" and state.bullet("c1:0002").text == "charger missing"
    assert not state.pending


async def test_a_blank_edit_id_is_rejected_before_any_state_change():
    f = Fakes()
    h = f.handler()
    await h.on_message(event(), 0)
    await h.apply_result(result("m1", "first point"), 0)
    with pytest.raises(InvalidEvent, match="edit_id is empty"):
        await h.on_edit({"edit_id": "", "case_id": "c1", "bullet_id": "c1:0001", "action": "delete", "ts": TS}, 0)
    assert f.store.load("c1", 0).applied_edits == []


async def test_edit_log_records_are_redacted_in_engine_log_mode_with_the_case_numbering():
    f = Fakes()
    h = CaseHandler(f.store, f.publish, f, f.notified.append,
                    Limits(max_text_chars=200, redact="engine+log"), clock=lambda: 1000)
    await h.on_message(event(text="call me on 06 12 34 56 78 or mail jo@example.com"), 0)
    await h.apply_result(result("m1", "customer gave a phone number"), 0)
    await h.on_edit({"edit_id": "e1", "case_id": "c1", "bullet_id": "c1:0001", "action": "edit",
                     "text": "phone 06 12 34 56 78", "agent_id": "a", "ts": TS}, 0)
    (record,) = f.logged
    assert "06 12 34 56 78" not in record["after"] and "[PHONE_1]" in record["after"]
    assert "jo@example.com" not in record["generation_context"] and "[EMAIL_" in record["generation_context"]
    state = f.store.load("c1", 0)
    assert state.redaction["counts"] == {"PHONE": 1, "EMAIL": 1}, "the numbering is kept in the case state"
    assert state.bullet("c1:0001").text == "phone 06 12 34 56 78", "the bullet keeps what the agent typed"
    assert state.view().redaction == state.redaction
