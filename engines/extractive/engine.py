"""ExtractiveEngine: the default note-taker. Pure Python, deterministic, no model server.

For each call it looks at the new messages (plus any fragment held back by the previous call),
labels each sentence's dialogue act, drops small talk, merges fragments and identifier runs,
rewrites the rest as attributed notes, and skips anything the current notes already say.
"""
from __future__ import annotations

from dataclasses import dataclass

from casenotes.engines.extractive import acts
from casenotes.engines.extractive.entities import Provided, carries_fact, carries_identifier, facts_in, join_provided, provided_identifier
from casenotes.engines.extractive.lexicon import Lexicon, lexicon_for
from casenotes.engines.extractive.overlap import content_tokens, is_redundant
from casenotes.engines.extractive.rewrite import render
from casenotes.engines.extractive.salience import SalienceModel, default_model, features
from casenotes.model import CaseView, Message

#: The act of a merged run of identifiers the customer gave ("Customer provided ...").
PROVIDED = "provided"
#: Salience a note needs (probability that annotators would put its sentence in a summary), the
#: higher bar once the budget is spent, and the budget: BUDGET_BASE words plus BUDGET_RATE per word
#: said. Tuned on TweetSumm train (cross-fitted) and checked on valid; see salience_train.
SALIENT, VERY_SALIENT = 0.3, 0.7
#: Lower bars for what a case file needs: the first note of a case, agent outcomes and facts,
#: the customer's first stated problem.
FIRST_NOTE, OUTCOME, FIRST_ISSUE = 0.05, 0.2, 0.15
#: The agent's side: a case file says what the agent did or asked for. The first agent point is
#: written at a lower bar (the agent's most salient point of the call), and agent notes use their
#: own bar; customer notes beyond CUSTOMER_MAX need the higher bar.
AGENT_FIRST, AGENT_SALIENT, CUSTOMER_MAX = 0.1, 0.3, 2
FACT_WORDS = 8  # a note this short that carries an identifier is written whatever its salience
BUDGET_BASE, BUDGET_RATE, BUDGET_PER_FACT = 20, 0.2, 8
#: How far back a held-back run may reach: a customer rarely sends more identifiers in a row.
MAX_HELD = 6


@dataclass(frozen=True)
class Candidate:
    """A note the engine could write: its forms (preferred first, then shorter ones) and where it
    comes from, which is what the salience model scores."""

    forms: tuple[str, ...]
    role: str
    act: str
    sentence: str  # the cleaned source sentence ("" for merged identifiers)
    first: int  # index in history of the turn's first message
    position: int  # sentence index within the turn


@dataclass(frozen=True)
class Turn:
    """One or more consecutive messages of the same speaker read as one utterance."""

    role: str
    text: str
    channel: str
    first: int  # index in history of its first message


class ExtractiveEngine:
    name = "extractive"
    model_version = "extractive-1"

    def __init__(self, language: str | None = None, salience: SalienceModel | None | str = "default") -> None:
        """``language`` forces the notes language (en, fr, es); default: the conversation's.
        ``salience``: the model that selects which notes to write; None writes every note."""
        self.language = language or None
        self.salience = default_model() if salience == "default" else salience

    @classmethod
    def from_settings(cls, settings) -> "ExtractiveEngine":
        return cls(language=getattr(settings, "notes_language", "") or None)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def propose(self, view: CaseView) -> list[str]:
        return self.notes_for(view)

    def propose_sync(self, view: CaseView) -> list[str]:
        """Pure CPU, no I/O: the worker may run it in a child process (``casenotes.offload``)."""
        return self.notes_for(view)

    def holds_back(self, view: CaseView) -> bool:
        """Messages before ``view.covered`` held back for merging and not noted yet."""
        return self._held_start(view, lexicon_for(self.language or view.language)) < view.covered

    def _held_start(self, view: CaseView, lex: Lexicon) -> int:
        # Reach back past messages that say nothing ("thanks", "please", system actions): the
        # worker covers those without calling the engine, and a run held before them would be lost.
        history = view.history
        start = j = view.covered
        while j > 0 and view.covered - j < MAX_HELD:
            if self._holdable(history, j - 1, lex):
                start = j = j - 1
            elif _transparent(history[j - 1], lex):
                j -= 1
            else:
                break
        return start

    # ------------------------------------------------------------------------------------
    def notes_for(self, view: CaseView) -> list[str]:
        """The synchronous core of :meth:`propose` (also used by offline tools)."""
        pairs = self.scored_notes(view)
        if self.salience is None:
            return [note for _, note in pairs]
        lex = lexicon_for(self.language or view.language)
        return select(pairs, view, lex, self.salience)

    def scored_notes(self, view: CaseView) -> list[tuple["Candidate", str]]:
        """The new notes with the candidate each comes from (before any salience selection)."""
        history = view.history
        if view.covered >= len(history):
            return []
        lex = lexicon_for(self.language or view.language)
        # Messages held back by earlier calls (a fragment, identifiers in a row) come first;
        # a run still open at the end is held back for the next call to merge with what follows.
        start = self._held_start(view, lex)
        end = len(history)
        while end > view.covered and end - view.covered <= MAX_HELD and self._holdable(history, end - 1, lex):
            end -= 1
        if end == view.covered:
            if len(history) - start < MAX_HELD:
                return []  # everything new continues a held run: wait for the rest
            end = len(history)  # never hold back forever
        turns = _turns(history, start, end)
        names = frozenset(w for who in (view.metadata.customer, view.metadata.agent) for w in who.get("name", "").split())
        earlier = [content_tokens(b.text, lex) for b in view.bullets if b.active]
        out: list[tuple[Candidate, str]] = []
        for cand in self.candidates(turns, history, lex, names):
            # A short form, when there is one, stands in for a note that mostly repeats another:
            # after "Agent asked for the booking reference", "Customer provided HX-48213".
            for note in cand.forms:
                tokens = content_tokens(note, lex)
                if not is_redundant(tokens, earlier):
                    earlier.append(tokens)
                    out.append((cand, note))
                    break
        return out

    def _holdable(self, history: tuple[Message, ...], i: int, lex: Lexicon) -> bool:
        """Held back until the next message: a turn cut mid-thought, or a customer message that is
        only an identifier (more usually follow: name, then email, then order number)."""
        m = history[i]
        if m.role == "system":
            return False
        if acts.is_unterminated(m.text, m.channel):
            return True
        if m.role != "customer":
            return False
        ctx = _context(history, i, lex)
        if ctx.asked_auth:
            return False
        sentences = [acts.clean(s, lex) for s in acts.split_sentences(m.text)]
        sentences = [s for s in sentences if s]
        return bool(sentences) and all(provided_identifier(s, lex, ctx.asked_items) for s in sentences)

    def candidates(self, turns: list[Turn], history: tuple[Message, ...], lex: Lexicon,
                   names: frozenset[str]) -> list[Candidate]:
        """Every note the turns could give, in order, before redundancy and salience."""
        notes: list[Candidate] = []
        provided: list[Provided] = []
        where = (0, 0)

        def flush() -> None:
            if provided:
                template = lex.templates["provided"]
                forms = (join_provided(provided, lex), join_provided(provided, lex, compact=True))
                notes.append(Candidate(tuple(dict.fromkeys(template.replace("{x}", f) for f in forms)),
                                       "customer", PROVIDED, " ".join(p.value for p in provided), *where))
                provided.clear()

        for turn in turns:
            ctx = _context(history, turn.first, lex)
            signed_off = False
            for position, sentence in enumerate(acts.split_sentences(turn.text)):
                if signed_off and not carries_identifier(sentence):
                    continue  # "That's all, have a great day! Don't forget to ...": a pleasantry
                signed_off = signed_off or turn.role == "customer" and acts.is_farewell(sentence, lex)
                s = acts.clean(sentence, lex)
                if not s:
                    continue
                if turn.role == "customer":
                    item = provided_identifier(s, lex, ctx.asked_items)
                    if item and not ctx.asked_auth:
                        if all(item.value != p.value for p in provided):
                            provided.append(item)
                            where = (turn.first, position)
                        continue
                act = acts.classify(s, turn.role, lex, ctx)
                asked = acts.requested_items(s, lex) if act == acts.FOLLOW_UP else ()
                note = render(act, s, turn.role, lex, asked, names)
                if note:
                    flush()
                    notes.append(Candidate((note,), turn.role, act, s, turn.first, position))
        flush()
        return notes


_OUTCOME_ACTS = frozenset({acts.DONE, acts.COMMIT, acts.TRANSFER})
_ALWAYS = frozenset({PROVIDED, acts.VERIFIED})  # identifiers given, identity checked


def note_budget(view: CaseView) -> float:
    """Words the notes may hold so far: grows with what the conversation has said, not with its
    number of turns (ten "ok"s add nothing; one long explanation adds room), and with each
    identifier, amount or code mentioned (each is a fact someone may need to act on)."""
    texts = [m.text for m in view.history if m.role != "system"]
    said = sum(len(t.split()) for t in texts)
    return BUDGET_BASE + BUDGET_RATE * said + BUDGET_PER_FACT * len(facts_in(texts))


def select(pairs: list[tuple[Candidate, str]], view: CaseView, lex: Lexicon, model: SalienceModel) -> list[str]:
    """The notes worth writing: salient ones while the budget lasts, and what an agent needs
    whatever the budget. Accepted notes are never withdrawn, so the choice is made as the
    conversation goes, from what has been said so far."""
    used = sum(len(b.text.split()) for b in view.bullets if b.active)
    budget = note_budget(view)
    scores = [model.score(features(cand, view.history, lex)) for cand, _ in pairs]
    agent_noted = any(b.active and b.text.startswith(lex.templates["agent"]) for b in view.bullets)
    customer_notes = sum(1 for b in view.bullets if b.active and b.text.startswith(lex.templates["customer"]))
    best_agent = max((p for (c, _), p in zip(pairs, scores) if c.role == "agent"), default=None)
    out = []
    for (cand, note), p in zip(pairs, scores):
        words = len(note.split())
        bar = AGENT_SALIENT if cand.role == "agent" else SALIENT if customer_notes < CUSTOMER_MAX else VERY_SALIENT
        first_agent = cand.role == "agent" and not agent_noted and p == best_agent and p >= AGENT_FIRST
        if _needed(cand, note, p, view, lex) or first_agent or p >= bar and used + words <= budget:
            out.append(note)
            used += words
            agent_noted = agent_noted or cand.role == "agent"
            customer_notes += cand.role == "customer"
    if not out and not any(b.active for b in view.bullets) and scores and max(scores) >= FIRST_NOTE:
        # A case with no notes yet gets its most salient point, even from a conversation unlike
        # the training chats (short everyday turns score low): no case goes without notes.
        out.append(pairs[scores.index(max(scores))][1])
    return out


def _needed(cand: Candidate, note: str, p: float, view: CaseView, lex: Lexicon) -> bool:
    """Notes written whatever the budget: the training chats (tweets) rarely hold identifiers,
    amounts or dates, so salience says little about them, and some points every case file needs."""
    if cand.act in _ALWAYS or p >= VERY_SALIENT:
        return True
    if carries_fact(note) and (len(note.split()) <= FACT_WORDS or p >= OUTCOME):
        return True  # something to act on: a short note always, a longer one if not unlikely
    if cand.role == "agent" and cand.act in _OUTCOME_ACTS:
        return p >= OUTCOME  # what the agent did or committed to: the outcome of the case
    # The customer's problem, the first time they state one, however briefly they put it.
    return (cand.role == "customer" and cand.act == acts.ISSUE and p >= FIRST_ISSUE
            and not _issue_before(view.history, cand.first, lex))


def _issue_before(history: tuple[Message, ...], i: int, lex: Lexicon) -> bool:
    """Did the customer state a problem before message ``i``?"""
    return any(m.role == "customer" and acts.classify(s, "customer", lex) == acts.ISSUE
               for m in history[:i] for s in map(lambda x: acts.clean(x, lex), acts.split_sentences(m.text)) if s)


def _turns(history: tuple[Message, ...], start: int, end: int) -> list[Turn]:
    """Consecutive messages joined when the first was cut mid-thought and the same speaker goes on."""
    turns: list[Turn] = []
    for i in range(start, end):
        m = history[i]
        prev = history[i - 1] if i > start else None
        if prev is not None and turns and prev.role == m.role and acts.is_unterminated(prev.text, prev.channel):
            last = turns[-1]
            turns[-1] = Turn(last.role, f"{last.text.rstrip()} {m.text.lstrip()}", m.channel, last.first)
        else:
            turns.append(Turn(m.role, m.text, m.channel, i))
    return turns


def _transparent(m: Message, lex: Lexicon) -> bool:
    """A message with nothing to note: a system action, or only greetings, thanks and holds."""
    return m.role == "system" or not any(acts.clean(s, lex) for s in acts.split_sentences(m.text))


def _context(history: tuple[Message, ...], i: int, lex: Lexicon) -> acts.Context:
    """What the agent last asked before message ``i`` (the customer may answer over several turns).
    A request counts whether phrased as a question or not ("I'd just need your phone number"),
    and an agent message that says nothing ("please") does not hide the request before it."""
    for j in range(i - 1, max(-1, i - 8), -1):
        m = history[j]
        if m.role != "agent":
            continue
        sentences = [acts.clean(s, lex) for s in acts.split_sentences(m.text)]
        sentences = [s for s in sentences if s]
        if not sentences:
            continue
        requests = [s for s in sentences if acts.is_question(s, lex) or acts.item_request(s, lex)
                    or acts.classify(s, "agent", lex) == acts.AUTH]
        if not requests:
            return acts.Context()
        q = requests[-1]
        return acts.Context(asked_items=acts.requested_items(q, lex),
                            asked_auth=acts.classify(q, "agent", lex) == acts.AUTH)
    return acts.Context()
