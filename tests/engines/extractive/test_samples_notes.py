"""The engine over every bundled sample case, run as the worker runs it: message by message,
accepted notes fed back as bullets. Each case's checks must hold and no note may repeat another."""
from __future__ import annotations

import json
import time

import pytest

from casenotes.casefile import load_case, sample_case_paths
from casenotes.engines.extractive import ExtractiveEngine
from casenotes.engines.extractive.acts import split_sentences
from casenotes.engines.extractive.lexicon import lexicon_for
from casenotes.engines.extractive.overlap import content_tokens
from casenotes.model import Bullet, CaseView

PATHS = sample_case_paths()


def run_progressively(path) -> tuple[list[str], float]:
    """Notes of one case, and the mean seconds per engine call."""
    case = load_case(path)
    engine = ExtractiveEngine()
    bullets: list[Bullet] = []
    spent = 0.0
    for i in range(1, len(case.events) + 1):
        view = CaseView(case.case_id, case.metadata, case.events[:i], tuple(bullets), covered=i - 1)
        t0 = time.perf_counter()
        texts = engine.notes_for(view)
        spent += time.perf_counter() - t0
        for text in texts:
            bullets.append(Bullet(f"{case.case_id}:{len(bullets):04d}", len(bullets), text))
    return [b.text for b in bullets], spent / len(case.events)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notes_satisfy_the_case_checks(path):
    notes, _ = run_progressively(path)
    checks = json.loads(path.read_text(encoding="utf-8"))["checks"]
    text = " ".join(notes).lower()
    for kind in ("issue", "resolution"):
        for group in checks[kind]:
            assert any(alt in text for alt in group), f"{kind}: none of {group} in notes:\n" + "\n".join(notes)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notes_are_concise_attributed_and_never_near_duplicates(path):
    notes, _ = run_progressively(path)
    case = load_case(path)
    lex = lexicon_for(case.events[0].language)
    sentences = sum(len(split_sentences(m.text)) for m in case.events)
    # Greetings, thanks, holds, identity checks and repeats must go: well under one note per sentence.
    assert 3 <= len(notes) < 0.75 * sentences, notes
    subjects = (lex.templates["customer"], lex.templates["agent"], lex.templates["transfer"].split(" {")[0],
                lex.templates["verified"])
    for note in notes:
        assert note.startswith(subjects), f"unattributed note: {note!r}"
        low = note.lower()
        for filler in (" um ", " uh ", " euh ", " eh,", "hi there", "thanks so much", "bonjour", "hola"):
            assert filler not in f" {low} ", f"{filler!r} left in {note!r}"
    tokens = [content_tokens(n, lex) for n in notes]
    for i in range(len(notes)):
        for j in range(i):
            a, b = tokens[i], tokens[j]
            jaccard = len(a & b) / len(a | b)
            assert jaccard < 0.6 and not (a <= b), f"near-duplicates:\n  {notes[j]}\n  {notes[i]}"
