"""Hypothesis drives random sequences of case-state transitions (messages, redeliveries, engine
results, stale results, agent edits, save/load) and checks the invariants the worker relies on."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from casenotes.model import Message
from casenotes.state import CaseState, EditError, NoteResult, Proposal, normalize

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=60)
BIG = st.integers(min_value=0, max_value=20_000).map(lambda n: "x" * n)


class CaseStateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = CaseState("case-1")
        self.n = 0
        self.sent: list[str] = []  # message ids, in order
        self.edited: dict[str, str] = {}  # bullet id -> the agent's text
        self.deleted: set[str] = set()
        self.ids_seen: set[str] = set()
        self.edits = 0

    # -- transitions -----------------------------------------------------------------------
    @rule(text=st.one_of(TEXT, BIG), role=st.sampled_from(["customer", "agent", "system"]))
    def message(self, text: str, role: str) -> None:
        self.n += 1
        mid = f"m{self.n}"
        assert self.state.add_message(Message(mid, "chat", role, text, "2024-01-01T00:00:00Z"), self.n)
        self.sent.append(mid)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def redelivery(self, data) -> None:
        """A message already received comes again (Kafka redelivery): ignored while remembered."""
        mid = data.draw(st.sampled_from(self.sent[-5:]))
        before = len(self.state.history)
        if self.state.message_index(mid) is not None:
            assert not self.state.add_message(Message(mid, "chat", "customer", "again", "t"), 0)
            assert len(self.state.history) == before

    @precondition(lambda self: self.state.pending)
    @rule(texts=st.lists(TEXT, max_size=4), keep=st.lists(st.booleans(), min_size=4, max_size=4))
    def engine_result(self, texts: list[str], keep: list[bool]) -> None:
        view = self.state.view()
        last = view.new_messages[-1].message_id
        result = NoteResult("case-1", last, tuple(Proposal(t, "customer_provides_issue", k, 0.9)
                                                  for t, k in zip(texts, keep)),
                            context={"message_ids": [m.message_id for m in view.new_messages],
                                     "prefix": [b.text for b in view.bullets]})
        if hasattr(result, "with_prefix_refs"):
            result = result.with_prefix_refs(view)
        changes = self.state.apply_result(result, self.n + 1000)
        assert not self.state.pending or self.state.message_index(last) is None or \
            self.state.message_index(last) < self.state.covered
        for c in changes:
            assert c.status == "added" and c.bullet.bullet_id not in self.ids_seen
            self.ids_seen.add(c.bullet.bullet_id)
        # The same result again (a replay after a crash) changes nothing.
        assert self.state.apply_result(result, self.n + 2000) == []

    @precondition(lambda self: self.state.active_bullets)
    @rule(data=st.data(), text=TEXT, action=st.sampled_from(["edit", "delete"]))
    def agent_edit(self, data, text: str, action: str) -> None:
        bullet = data.draw(st.sampled_from(self.state.active_bullets))
        self.edits += 1
        edit = {"edit_id": f"e{self.edits}", "action": action, "bullet_id": bullet.bullet_id, "text": text}
        try:
            applied = self.state.apply_edit(edit)
        except EditError:  # an edit with empty text (use delete), or a bullet archived from a huge case
            assert (action == "edit" and not text.strip()) or self.state.bullet(bullet.bullet_id) is None
            return
        assert applied is not None
        if action == "edit":
            self.edited[bullet.bullet_id] = text.strip()
        else:
            self.deleted.add(bullet.bullet_id)
            self.edited.pop(bullet.bullet_id, None)
        assert self.state.apply_edit(edit) is None  # redelivered edit: applied once

    @rule(text=TEXT)
    def agent_add(self, text: str) -> None:
        self.edits += 1
        try:
            applied = self.state.apply_edit({"edit_id": f"e{self.edits}", "action": "add", "text": text})
        except EditError:
            assert not text.strip()
            return
        self.ids_seen.add(applied.change.bullet.bullet_id)
        self.edited[applied.change.bullet.bullet_id] = text.strip()

    @rule()
    def save_and_load(self) -> None:
        data = self.state.to_bytes() if hasattr(self.state, "to_bytes") else None
        if data is not None:
            assert len(data) <= 512_000
            self.state = CaseState.from_bytes(data)
        else:
            self.state = CaseState.from_dict(self.state.to_dict())

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def bullet_ids_unique_and_sequential(self) -> None:
        ids = [b.bullet_id for b in self.state.bullets]
        assert len(ids) == len(set(ids))
        seqs = [b.seq for b in self.state.bullets]
        assert seqs == sorted(seqs) and all(s < self.state.next_seq for s in seqs)

    @invariant()
    def agent_edits_are_never_overwritten(self) -> None:
        for bullet_id, text in self.edited.items():
            b = self.state.bullet(bullet_id)
            if b is not None:  # None: archived from a very long case, never rewritten
                assert b.text == text and b.active

    @invariant()
    def deleted_bullets_stay_deleted(self) -> None:
        for bullet_id in self.deleted:
            b = self.state.bullet(bullet_id)
            assert b is None or not b.active

    @invariant()
    def no_duplicate_active_texts(self) -> None:
        keys = [normalize(b.text) for b in self.state.active_bullets if b.source == "model"]
        assert len(keys) == len(set(keys))

    @invariant()
    def coverage_within_history(self) -> None:
        assert 0 <= self.state.covered <= len(self.state.history)


CaseStateMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                              database=None, suppress_health_check=list(HealthCheck))
TestCaseState = CaseStateMachine.TestCase
