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
