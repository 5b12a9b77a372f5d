import pytest

from casenotes.engines.base import EngineError
from casenotes.engines.relevance.passthrough import PassthroughClassifier
from casenotes.model import CaseMetadata, CaseView, Message, Relevance
from casenotes.notetaker import NoteTaker, has_substance, is_trivial


def m(i, text, role="customer"):
    return Message(f"m{i}", "chat", role, text, "2026-01-01T10:00:00Z")


class RecordingEngine:
    """A scripted engine: returns queued answers and records the views it was given."""
    name, model_version = "scripted", "v0"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.views = []

    async def start(self): ...
    async def close(self): ...

    async def propose(self, view):
        self.views.append(view)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class DropGreetings:
    name, model_version = "rule", "v0"
    async def start(self): ...
    async def close(self): ...
    async def classify(self, texts):
        return [Relevance("other", False, 0.1) if t.lower().startswith("hello") else
                Relevance("customer_provides_issue", True, 0.9) for t in texts]


def view(*msgs, covered=0, bullets=()):
    return CaseView("c", CaseMetadata(), tuple(msgs), tuple(bullets), covered)


@pytest.mark.parametrize("text,trivial", [
    ("Hi there!", True), ("thanks so much :)", True), ("Merci beaucoup, au revoir", True),
    ("Gracias, un momento por favor", True), ("one moment please", True),
    ("My card was charged twice", False), ("Mi pedido no llegó", False),
])
def test_is_trivial(text, trivial):
    assert is_trivial(text) is trivial


def test_substance_gate_counts_short_answers_to_agent_questions():
    q = m(1, "Would you like a refund or a replacement?", "agent")
    assert has_substance([m(2, "yes")], [q, m(2, "yes")])
    assert not has_substance([m(2, "ok thanks")], [m(1, "Your refund is issued.", "agent"), m(2, "ok thanks")])


async def test_take_notes_judges_and_dedupes_proposals():
    engine = RecordingEngine(["Hello!", "Card charged twice", "card charged twice.", "Existing point"])
    nt = NoteTaker(engine, DropGreetings())
    from casenotes.model import Bullet
    v = view(m(1, "my card was charged twice"), bullets=(Bullet("c:0001", 1, "Existing point"),))
    r = await nt.take_notes(v)
    assert [(p.text, p.keep) for p in r.proposals] == [("Hello!", False), ("Card charged twice", True)]
    assert r.last_message_id == "m1" and r.engine == "scripted" and not r.skipped


async def test_trivial_messages_skip_the_engine():
    engine = RecordingEngine()
    r = await NoteTaker(engine, PassthroughClassifier()).take_notes(view(m(1, "hi"), m(2, "hello?")))
    assert r.skipped and r.last_message_id == "m2" and engine.views == []


async def test_engine_errors_propagate_so_the_case_stays_pending():
    nt = NoteTaker(RecordingEngine(EngineError("down")), PassthroughClassifier())
    with pytest.raises(EngineError):
        await nt.take_notes(view(m(1, "my router is broken")))


async def test_identifiers_held_back_by_the_engine_are_noted_when_a_trivial_message_ends_the_case():
    """The extractive engine holds an identifier-only message to merge it with the next ones; if
    the conversation then ends with "thanks, bye" the gate must still call it, or the id is lost."""
    from casenotes.casefile import CaseFile
    from casenotes.engines.extractive import ExtractiveEngine
    from casenotes.offline import take_notes_progressively

    events = (m(0, "Hi, my parcel never arrived and the tracking has not moved for a week."),
              m(1, "Sorry about that. Could you give me the order number?", role="agent"),
              m(2, "A-55123"),
              m(3, "thanks, bye"))
    case = CaseFile("c-held", CaseMetadata(), events)
    notetaker = NoteTaker(ExtractiveEngine(), PassthroughClassifier())
    steps = [s async for s in take_notes_progressively(case, notetaker)]
    assert steps[2].added == [], "the lone identifier is held back for merging"
    assert not steps[3].result.skipped
    assert any("A-55123" in c.bullet.text for s in steps for c in s.added)


async def test_engines_read_normalised_text_and_the_view_keeps_its_shape():
    engine = RecordingEngine(["Card charged twice"])
    raw = view(m(1, "@AcmeHelp my card was charged TWICE 😡 https://t.co/abc"), m(2, "@123 Sorry! DM us ^JL", "agent"))
    await NoteTaker(engine, PassthroughClassifier()).take_notes(raw)
    seen = engine.views[0]
    assert [x.text for x in seen.history] == ["my card was charged twice", "Sorry! DM us"]
    assert [x.message_id for x in seen.history] == ["m1", "m2"] and seen.covered == raw.covered


class DropAll:
    name, model_version = "rule", "v0"
    async def start(self): ...
    async def close(self): ...
    async def classify(self, texts):
        return [Relevance("other", False, 0.1 + 0.01 * len(t)) for t in texts]


async def test_a_case_without_notes_keeps_its_likeliest_point_when_the_classifier_drops_all():
    nt = NoteTaker(RecordingEngine(["No smoking here", "Customer is near sighted and could not read the sign"]), DropAll())
    r = await nt.take_notes(view(m(1, "I can't read the sign, I'm near sighted")))
    assert [p.text for p in r.kept] == ["Customer is near sighted and could not read the sign"]
    from casenotes.model import Bullet
    nt = NoteTaker(RecordingEngine(["No smoking here"]), DropAll())
    r = await nt.take_notes(view(m(1, "ok, sorry"), bullets=(Bullet("c:0001", 1, "Existing point"),)))
    assert r.kept == [], "once a case has notes the classifier decides"
