"""Salience selection: the shipped model, its trainer, the content-grown budget, and what is
written whatever the budget; TweetSumm valid keeps ROUGE-L >= 30 (skipped without the data)."""
from __future__ import annotations

import json
import statistics

import pytest

from casenotes.engines.extractive import ExtractiveEngine
from casenotes.engines.extractive import engine as E
from casenotes.engines.extractive.salience import SalienceModel, default_model
from casenotes.engines.extractive.salience_train import fit
from casenotes.model import Bullet, CaseMetadata, CaseView, Message


def msgs(*turns):
    return tuple(Message(f"m{i}", "chat", role, text, f"2024-05-01T10:00:{i:02d}Z", None, "en")
                 for i, (role, text) in enumerate(turns))


def progressive(history, engine=None):
    engine, accepted = engine or ExtractiveEngine(), []
    for i in range(1, len(history) + 1):
        view = CaseView("c1", CaseMetadata(), history[:i], tuple(accepted), covered=i - 1)
        accepted += [Bullet(f"c1:{len(accepted):04d}", len(accepted), t) for t in engine.notes_for(view)]
    return [b.text for b in accepted]


def test_the_shipped_model_is_small_and_scores_probabilities():
    model = default_model()
    assert model.version.startswith("salience-tweetsumm") and 100 < len(model.weights) < 5000
    assert 0.0 < model.score(["bias"]) < 1.0


def test_training_is_deterministic_and_learns_the_signal():
    data = [(["bias", "act=customer:issue"], 0.9), (["bias", "act=agent:explain"], 0.1)] * 20
    w1, w2 = fit(data, min_count=1, l2=0.1), fit(data, min_count=1, l2=0.1)
    assert w1 == w2
    model = SalienceModel(w1)
    assert model.score(["bias", "act=customer:issue"]) > 0.8 > 0.2 > model.score(["bias", "act=agent:explain"])


def test_the_budget_grows_with_content_not_with_turns():
    view = lambda *turns: CaseView("c", CaseMetadata(), msgs(*turns), ())  # noqa: E731
    chit_chat = view(*[("customer", "ok")] * 10)
    one_story = view(("customer", "My order arrived with the screen cracked and the charger missing, "
                                  "and the replacement I was promised last week never shipped either."))
    with_facts = view(("customer", "Order HX-48213 was charged $312.40 twice."))
    assert E.note_budget(chit_chat) < E.note_budget(one_story)
    assert E.note_budget(with_facts) > E.BUDGET_BASE + E.BUDGET_RATE * 6


def test_small_talk_gives_few_notes_and_the_issue_and_outcome_stay():
    history = msgs(("customer", "Hi there! Hope you're well."), ("agent", "Hi! Thanks for reaching out, how can I help today?"),
                   ("customer", "My internet has been down since yesterday and the router light is blinking red."),
                   ("agent", "Sorry to hear that."), ("agent", "I've booked an engineer visit for Thursday 14 March, reference ENG-304918."),
                   ("customer", "ok thanks"), ("agent", "You're welcome, have a great day!"))
    notes = progressive(history)
    text = " ".join(notes)
    assert "down since yesterday" in text and "ENG-304918" in text, notes
    assert len(notes) <= 3 and not any("welcome" in n or "Hope" in n for n in notes), notes


def test_identifiers_are_noted_whatever_their_salience():
    never = SalienceModel({"bias": -20.0})  # nothing is salient
    history = msgs(("agent", "Could you give me your order number?"), ("customer", "It's 3348917502"), ("agent", "Thanks"))
    assert any("3348917502" in n for n in progressive(history, ExtractiveEngine(salience=never)))


def test_every_case_gets_a_first_note():
    low = SalienceModel({"bias": -2.5})  # every point scores about 0.08
    history = msgs(("customer", "I'm afraid the heating in my room doesn't work."))
    assert progressive(history, ExtractiveEngine(salience=low))


def test_without_a_model_every_note_is_written():
    history = msgs(("customer", "I was charged twice."), ("customer", "Also the app logs me out."))
    assert len(progressive(history, ExtractiveEngine(salience=None))) == 2


@pytest.mark.timeout(120)
async def test_tweetsumm_valid_rouge_l_stays_above_30(shared_data):
    """The shipped default (extractive + bundled ONNX classifier), progressive, on real chats."""
    path = shared_data / "tweetsumm" / "valid.jsonl"
    if not path.is_file():
        pytest.skip(f"TweetSumm valid not found at {path}")
    rouge = pytest.importorskip("rouge_score.rouge_scorer")
    from casenotes.eval.datasets import load_dataset
    from casenotes.engines.factory import make_classifier, make_engine
    from casenotes.notetaker import NoteTaker
    from casenotes.offline import take_notes_progressively
    from casenotes.settings import Settings

    settings = Settings.from_env(env={})
    notetaker = NoteTaker(make_engine(settings), make_classifier(settings))
    await notetaker.start()
    scorer = rouge.RougeScorer(["rougeL"], use_stemmer=True)
    scores, words = [], []
    try:
        for d in load_dataset(f"tweetsumm:{path}")[1]:
            notes = [c.bullet.text async for step in take_notes_progressively(d.case, notetaker) for c in step.added]
            text = "\n".join(notes)
            assert notes and "@" not in text and "http" not in text, (d.id, notes)
            scores.append(statistics.fmean(scorer.score(r, text)["rougeL"].fmeasure for r in d.references))
            words.append(len(text.split()))
    finally:
        await notetaker.close()
    assert statistics.fmean(scores) >= 0.30 and statistics.fmean(words) <= 60, (statistics.fmean(scores), statistics.fmean(words))


def test_the_first_agent_point_is_noted_at_a_lower_bar():
    """Half of a support summary is what the agent did or asked: the agent's most salient point,
    the first time the agent says something, is written even below the usual bar."""
    low = SalienceModel({"bias": -1.5})  # every point scores about 0.18: under SALIENT, over AGENT_FIRST
    history = msgs(("customer", "My order 4417 never arrived and the tracking page is blank."),
                   ("agent", "Please check the spam folder for the courier's email."))
    notes = progressive(history, ExtractiveEngine(salience=low))
    assert any(n.startswith("Agent") for n in notes), notes
