import pytest

from casenotes.model import Message
from casenotes.state import CaseState, EditError, NoteResult, Proposal, normalize


def msg(i, text="my order 123 arrived broken", role="customer"):
    return Message(f"m{i}", "chat", role, text, f"2026-01-01T10:00:{i:02d}Z")


def result(state, *texts, keep=True, upto=None):
    upto = upto or state.history[-1].message_id
    return NoteResult(state.case_id, upto, tuple(Proposal(t, "customer_provides_issue", keep, 0.9) for t in texts),
                      engine="test", model_version="t1", context={"message_ids": [upto]})


def test_messages_are_added_once_and_pending_until_covered():
    s = CaseState("c1")
    assert s.add_message(msg(1), 1000)
    assert not s.add_message(msg(1), 2000), "a redelivered message must not be appended twice"
    assert s.pending and s.view().new_messages == (msg(1),)
    changes = s.apply_result(result(s, "Customer reports order 123 arrived broken"), 1500)
    assert not s.pending
    assert [c.bullet.bullet_id for c in changes] == ["c1:0001"]
    assert changes[0].latency_ms == 500.0
    assert s.latencies_ms == [500.0]


def test_ids_are_deterministic_and_a_replayed_result_changes_nothing():
    def run():
        s = CaseState("case-7")
        s.add_message(msg(1), 0)
        r = result(s, "A", "B")
        first = s.apply_result(r, 10)
        again = s.apply_result(r, 20)  # redelivery after a crash
        return [c.bullet.bullet_id for c in first], again, s
    ids, again, s = run()
    assert ids == ["case-7:0001", "case-7:0002"] == run()[0]
    assert again == [] and len(s.bullets) == 2


def test_result_covers_only_up_to_its_last_message_and_later_messages_stay_pending():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    r = result(s, "X")  # computed while only m1 existed
    s.add_message(msg(2, "also the box was wet"), 5)
    s.apply_result(r, 10)
    assert s.covered == 1 and s.pending
    assert [m.message_id for m in s.view().new_messages] == ["m2"]


def test_dropped_and_duplicate_proposals_are_not_added():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    s.apply_result(result(s, "Customer reports a broken order."), 1)
    s.add_message(msg(2), 2)
    r = NoteResult("c", "m2", (Proposal("customer reports a broken order", "x", True, .9),
                               Proposal("Hello there", "other", False, .1)))
    assert s.apply_result(r, 3) == []
    assert s.dropped == 1 and len(s.bullets) == 1


def test_edit_applies_at_once_and_generation_never_overwrites_or_readds():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    (added,) = s.apply_result(result(s, "Customer says order broke"), 1)
    applied = s.apply_edit({"edit_id": "e1", "action": "edit", "bullet_id": added.bullet.bullet_id,
                            "text": "Order 123 arrived broken (box crushed)", "agent_id": "a7"})
    assert applied.change.status == "edited"
    assert applied.log_record["before"] == "Customer says order broke"
    assert applied.log_record["after"] == "Order 123 arrived broken (box crushed)"
    ctx = applied.log_record["generation_context"]
    assert [m["message_id"] for m in ctx["history"]] == ["m1"] and ctx["prefix_bullets"] == []
    # The next view (what the next engine call sees) carries the edited text.
    assert [b.text for b in s.view().bullets] == ["Order 123 arrived broken (box crushed)"]
    # A redelivered edit is applied once.
    assert s.apply_edit({"edit_id": "e1", "action": "edit", "bullet_id": added.bullet.bullet_id, "text": "zzz"}) is None
    # Deleted bullets are never re-added by generation.
    s.apply_edit({"edit_id": "e2", "action": "delete", "bullet_id": added.bullet.bullet_id})
    s.add_message(msg(2), 2)
    assert s.apply_result(result(s, "Order 123 arrived broken (box crushed)"), 3) == []
    assert s.bullet(added.bullet.bullet_id).status == "deleted"


def test_agent_added_bullet_gets_next_id():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    s.apply_result(result(s, "one"), 1)
    applied = s.apply_edit({"edit_id": "e", "action": "add", "text": "VIP customer", "agent_id": "a"})
    assert applied.change.bullet.bullet_id == "c:0002" and applied.change.bullet.source == "agent"
    assert applied.log_record["before"] is None and applied.log_record["after"] == "VIP customer"


@pytest.mark.parametrize("edit,reason", [
    ({"edit_id": "e", "action": "edit", "bullet_id": "c:0099", "text": "x"}, "unknown bullet"),
    ({"edit_id": "e", "action": "edit", "bullet_id": "c:0001", "text": "  "}, "non-empty"),
    ({"edit_id": "e", "action": "add", "text": ""}, "non-empty"),
    ({"edit_id": "e", "action": "merge", "bullet_id": "c:0001"}, "unknown edit action"),
])
def test_bad_edits_raise_clear_errors(edit, reason):
    s = CaseState("c")
    s.add_message(msg(1), 0)
    s.apply_result(result(s, "one"), 1)
    with pytest.raises(EditError, match=reason):
        s.apply_edit(edit)


def test_history_is_trimmed_from_the_middle_keeping_the_case_start():
    s = CaseState("c")
    for i in range(30):
        s.add_message(msg(i, f"message {i}"), i)
        s.apply_result(result(s), i)
    s.add_message(msg(30, "new"), 30)
    s.add_message(msg(31, "newer"), 31)
    for i in range(32, 40):
        s.add_message(msg(i, f"m {i}"), i, max_history=20)
    assert len(s.history) <= 20 + 10
    assert s.history[0].message_id == "m0", "the case start is never trimmed"
    assert [m.message_id for m in s.view().new_messages][0] == "m30", "uncovered messages are never trimmed"
    assert s.trimmed > 0


def test_round_trip_through_dict():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    s.apply_result(result(s, "one"), 1)
    assert CaseState.from_dict(s.to_dict()) == s


def test_normalize():
    assert normalize("Customer: Refund of $45, issued!") == normalize("customer refund of $45 issued")
    assert normalize("Réservé") == normalize("reserve")


# -- bounded state (issue 10) -------------------------------------------------------------
import json  # noqa: E402
import time  # noqa: E402

from casenotes import state as state_mod  # noqa: E402
from casenotes.model import CaseMetadata  # noqa: E402
from casenotes.state import MAX_RECORD_BYTES, StateTooLarge  # noqa: E402


def run_case(n, text=lambda i: f"customer says detail number {i} about order {i}", bullets_per_msg=1, s=None):
    s = s or CaseState("long")
    sizes, times = [], []
    for i in range(n):
        t0 = time.perf_counter()
        s.add_message(Message(f"m{i}", "chat", "customer" if i % 2 else "agent", text(i), "2026-01-01T10:00:00Z"), i)
        texts = [f"Point {i}.{k}: {text(i)[:120]}" for k in range(bullets_per_msg)]
        s.apply_result(NoteResult(s.case_id, f"m{i}", tuple(Proposal(t) for t in texts), engine="t",
                                  context={"message_ids": [f"m{i}"], "prefix": [b.text for b in s.view().bullets]}),
                       i + 1)
        data = s.to_bytes()
        times.append(time.perf_counter() - t0)
        sizes.append(len(data))
    return s, sizes, times


def test_record_size_is_bounded_independent_of_message_count():
    s, sizes, times = run_case(1000)
    assert max(sizes) <= MAX_RECORD_BYTES
    # It plateaus: the record at 1,000 messages is no bigger than at 500 (budget reached early).
    assert sizes[-1] <= max(sizes[:500]) * 1.15
    assert sizes[-1] < 200_000
    # Per-message work does not grow with case length.
    early, late = sorted(times[200:300])[50], sorted(times[900:1000])[50]
    assert late < early * 2.5 + 0.001
    assert s.message_count == 1000 and s.covered + s.trimmed == 1000 and not s.pending
    assert s.history[0].message_id == "m0", "the case start is kept"
    assert s.archived > 0 and s.next_seq == 1001


def test_bullet_context_holds_references_not_copies_of_earlier_bullets():
    s, sizes, _ = run_case(60)
    for b in s.bullets:
        assert "prefix" not in b.context
        assert len(json.dumps(b.context)) < 200
    last = s.bullets[-1]
    assert s.prefix_texts(last) == [b.text for b in s.bullets[:-1]]


def test_edit_log_context_rebuilds_the_prefix_texts_at_edit_time():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    (a,) = s.apply_result(result(s, "first point"), 1)
    s.add_message(msg(2, "second"), 2)
    (b,) = s.apply_result(NoteResult("c", "m2", (Proposal("second point"),),
                                     context={"message_ids": ["m2"], "prefix": ["first point"]}), 3)
    s.apply_edit({"edit_id": "e1", "action": "edit", "bullet_id": a.bullet.bullet_id, "text": "first point, fixed"})
    rec = s.apply_edit({"edit_id": "e2", "action": "delete", "bullet_id": b.bullet.bullet_id}).log_record
    ctx = rec["generation_context"]
    assert ctx["prefix_bullets"] == ["first point, fixed"]
    assert ctx["new_message_ids"] == ["m2"]
    assert [m["message_id"] for m in ctx["history"]] == ["m1", "m2"]


def test_prefix_seqs_exclude_bullets_added_after_the_view():
    s = CaseState("c")
    s.add_message(msg(1), 0)
    s.apply_result(result(s, "one"), 1)
    s.add_message(msg(2, "two"), 2)
    view = s.view()
    s.apply_edit({"edit_id": "e", "action": "add", "text": "agent note"})  # lands while the engine runs
    r = NoteResult("c", "m2", (Proposal("two"),), context={"message_ids": ["m2"]}).with_prefix_refs(view)
    (added,) = s.apply_result(r, 3)
    assert s.prefix_texts(added.bullet) == ["one"]


def test_long_messages_keep_the_record_under_the_limit():
    s, sizes, _ = run_case(160, text=lambda i: (f"{i} " + "lorem ipsum dolor sit amet " * 400)[:7900])
    assert max(sizes) <= MAX_RECORD_BYTES and max(sizes) < 250_000
    assert s.covered + s.trimmed == 160


def test_non_ascii_and_escaped_texts_stay_under_the_limit():
    s, sizes, _ = run_case(120, text=lambda i: ("é\"\\\n\x01日本語" * 1300)[:7900])
    assert max(sizes) <= MAX_RECORD_BYTES


def test_an_uncovered_backlog_over_budget_drops_its_oldest_messages_and_counts_them():
    s = CaseState("c")
    for i in range(300):  # engine down: nothing gets covered
        s.add_message(Message(f"m{i}", "chat", "customer", "x" * 5000, "t"), i)
    assert len(s.to_bytes()) <= MAX_RECORD_BYTES
    assert s.overflowed > 0 and s.history[-1].message_id == "m299" and s.history[0].message_id == "m0"
    assert s.pending and s.message_count == 300


def test_redelivered_message_after_compaction_is_not_appended_again():
    s, _, _ = run_case(600)
    assert s.history[KEEP_START := state_mod.KEEP_CASE_START].message_id != "m8"
    before = s.message_count
    assert not s.add_message(Message("m8", "chat", "agent", "again", "t"), 0)
    assert s.message_count == before and KEEP_START


def test_archived_bullets_are_never_re_added_and_cannot_be_edited():
    s, _, _ = run_case(800)
    assert s.bullet("long:0100") is None and s.archived
    s.add_message(Message("new", "chat", "customer", "hi", "t"), 0)
    old_text = "Point 100.0: customer says detail number 100 about order 100"
    assert s.apply_result(NoteResult("long", "new", (Proposal(old_text),)), 1) == []
    with pytest.raises(EditError, match="archived"):
        s.apply_edit({"edit_id": "x", "action": "edit", "bullet_id": "long:0100", "text": "new"})


def test_huge_metadata_is_truncated_not_refused():
    s = CaseState("c", CaseMetadata(customer={f"k{i}": "v" * 20000 for i in range(100)}))
    s.add_message(msg(1), 0)
    assert len(s.to_bytes()) <= MAX_RECORD_BYTES


def test_an_impossible_record_raises_and_leaves_the_state_unchanged():
    s = CaseState("c" * (MAX_RECORD_BYTES + 10))
    s.add_message(msg(1), 0)
    before = s.to_dict()
    with pytest.raises(StateTooLarge):
        s.to_bytes()
    assert s.to_dict() == before


def test_bytes_round_trip_and_old_records_still_load():
    s, _, _ = run_case(30)
    assert CaseState.from_bytes(s.to_bytes()) == s
    old = {"case_id": "c", "history": [msg(1).to_dict()], "received_ms": [0], "covered": 1, "next_seq": 2,
           "bullets": [{"bullet_id": "c:0001", "seq": 1, "text": "a", "trigger_message_id": "m1",
                        "context": {"message_ids": ["m1"], "prefix": ["zero"]}}]}
    old_state = CaseState.from_bytes(json.dumps(old).encode())
    rec = old_state.apply_edit({"edit_id": "e", "action": "delete", "bullet_id": "c:0001"}).log_record
    assert rec["generation_context"]["prefix_bullets"] == ["zero"]
    assert rec["generation_context"]["new_message_ids"] == ["m1"]


def _redaction(n_phones):
    from casenotes.redact import Redactor, Span

    r = Redactor(salt="s")
    for i in range(n_phones):
        r.placeholder(Span("PHONE", 0, 1, f"06123456{i:02d}"))
    return r.to_dict()


def test_redaction_state_is_stored_from_results_persisted_and_never_rolled_back():
    from dataclasses import replace

    s = CaseState("c1")
    s.add_message(msg(1), 0)
    assert s.view().redaction is None
    r1 = replace(result(s, "first point"), redaction=_redaction(2))
    s.apply_result(r1, 10)
    assert s.redaction["counts"] == {"PHONE": 2} and s.view().redaction == s.redaction
    back = CaseState.from_bytes(s.to_bytes())
    assert back.redaction == s.redaction, "persisted"
    assert NoteResult.from_dict(r1.to_dict()).redaction == r1.redaction
    s.apply_result(r1, 20)  # a stale replay
    s.add_message(msg(2, "and the charger is missing"), 30)
    older = replace(result(s, "charger missing"), redaction=_redaction(1))  # computed from an older state
    s.apply_result(older, 40)
    assert s.redaction["counts"] == {"PHONE": 2}, "counts only grow"
    assert s.covered == 2, "the result itself still applies"
    s.add_message(msg(3, "new number"), 50)
    s.apply_result(replace(result(s), redaction=_redaction(3)), 60)
    assert s.redaction["counts"] == {"PHONE": 3}


def test_an_edit_log_record_is_redacted_only_in_engine_log_mode():
    s = CaseState("c1")
    s.add_message(msg(1, "mail me at jo@example.com"), 0)
    s.apply_result(result(s, "customer gave an email"), 10)
    plain = s.apply_edit({"edit_id": "e1", "bullet_id": "c1:0001", "action": "edit", "text": "jo@example.com"},
                         redact="engine")
    assert plain.log_record["after"] == "jo@example.com" and not s.redaction
    red = s.apply_edit({"edit_id": "e2", "bullet_id": "c1:0001", "action": "edit", "text": "jo@example.com!"},
                       redact="engine+log")
    assert red.log_record["after"] == "[EMAIL_1]!" and red.log_record["before"] == "[EMAIL_1]"
    assert "jo@example.com" not in str(red.log_record["generation_context"])
    assert s.redaction["counts"] == {"EMAIL": 1} and "jo@example.com" not in str(s.redaction)
