"""Sentence salience: how likely a human would put a candidate note in the case summary.

A logistic regression over sparse, language-light features of a candidate note: who said it,
its dialogue act, where it sits in the conversation (first customer turn, first sentence of a
turn...), its length, and its content words. Trained on TweetSumm's per-sentence human labels
(``selected_by``: how many annotators put the sentence in their extractive summary) by
:mod:`casenotes.engines.extractive.salience_train`; the weights ship as ``salience.json``
(no text of the corpus, only feature weights). Features only look at the conversation so far,
so the score is the same whether computed live or offline.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from casenotes.engines.extractive.lexicon import Lexicon
from casenotes.engines.extractive.overlap import content_tokens
from casenotes.model import Message

if TYPE_CHECKING:
    from casenotes.engines.extractive.engine import Candidate

WEIGHTS = Path(__file__).with_name("salience.json")


def _bucket(n: int, edges: Sequence[int]) -> int:
    return next((i for i, e in enumerate(edges) if n <= e), len(edges))


def features(cand: "Candidate", history: Sequence[Message], lex: Lexicon) -> list[str]:
    """Sparse binary features of a candidate (names of the features that fire)."""
    role = cand.role
    # The n-th turn of this speaker: the customer's first turn states the issue; agents' first
    # turns are mostly greetings and questions.
    ordinal = sum(1 for m in history[: cand.first] if m.role == role)
    words = len(cand.sentence.split()) if cand.sentence else len(cand.forms[0].split())
    note = cand.forms[0]
    # Length relative to the conversation's messages so far, not absolute: a five-word sentence
    # is short in a tweet thread and ordinary in a live chat of short turns.
    said = [len(m.text.split()) for m in history[: cand.first + 1] if m.role != "system" and m.text]
    typical = max(4.0, sum(said) / len(said)) if said else 12.0
    f = ["bias", f"role={role}", f"act={role}:{cand.act}", f"turn={role}:{_bucket(ordinal, (0, 1, 3))}",
         f"pos={role}:{_bucket(cand.position, (0, 1))}", f"first={role}:{_bucket(ordinal, (0,))}:{_bucket(cand.position, (0,))}",
         f"rlen={role}:{_bucket(int(10 * words / typical), (3, 5, 8, 12))}", f"tiny={role}:{_bucket(words, (2, 4))}",
         f"lang={lex.code}"]
    if cand.sentence.endswith("?"):
        f.append(f"q={role}")
    if re.search(r"\d", cand.sentence):
        f.append(f"digit={role}")
    if '"' in note or "«" in note:
        f.append(f"quoted={role}")
    f += [f"w={w}" for w in sorted(content_tokens(cand.sentence, lex))]
    return f


@dataclass(frozen=True)
class SalienceModel:
    weights: dict[str, float]
    version: str = ""

    def score(self, feats: Sequence[str]) -> float:
        z = sum(self.weights.get(x, 0.0) for x in feats)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "SalienceModel":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls({k: float(v) for k, v in d["weights"].items()}, d.get("version", ""))

    def save(self, path: Path, meta: dict | None = None) -> None:
        weights = {k: round(v, 4) for k, v in sorted(self.weights.items()) if abs(v) >= 1e-4}
        doc = {"version": self.version, **(meta or {}), "weights": weights}
        Path(path).write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")


@lru_cache(maxsize=1)
def default_model() -> SalienceModel:
    return SalienceModel.load()
