"""ROUGE-1/2/L of a note against one or more human summaries (Google's ``rouge-score``).

English uses the package's own tokenizer with the Porter stemmer, the setting the
summarization literature (and TweetSumm's baselines) report, so figures stay comparable.
That tokenizer keeps only ``[a-z0-9]``: it would cut "réservé" into "r" + "serv", so other
languages get a Unicode word tokenizer without stemming (Porter is English-only).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from statistics import mean
from typing import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
KEYS = ROUGE_TYPES + tuple(f"{t}_max" for t in ROUGE_TYPES)


class _UnicodeTokenizer:
    """Case-folded runs of Unicode letters/digits, NFC-normalised (``tokenize`` is what rouge-score calls)."""

    _WORD = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self._WORD.findall(unicodedata.normalize("NFC", text).casefold())


@lru_cache(maxsize=None)
def _scorer(english: bool):
    # Built once per process: the stemmer and its caches are reused across thousands of calls.
    from rouge_score import rouge_scorer
    if english:
        return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_UnicodeTokenizer())


def rouge(note: str, references: Sequence[str], language: str = "en") -> dict[str, float]:
    """F1 (0..100) of ``note`` against ``references``: ``rouge1``/``rouge2``/``rougeL`` are the
    mean over references, ``*_max`` the best single reference. Empty note: all zeros; no
    (non-empty) reference: ``{}`` (nothing to compare with, not a zero score)."""
    refs = [r for r in references if r and r.strip()]
    if not refs:
        return {}
    if not note or not note.strip():
        return dict.fromkeys(KEYS, 0.0)
    scorer = _scorer(language.lower().startswith("en"))
    per_ref = [scorer.score(ref, note) for ref in refs]  # score(target, prediction)
    out: dict[str, float] = {}
    for t in ROUGE_TYPES:
        f = [s[t].fmeasure * 100.0 for s in per_ref]
        out[t], out[f"{t}_max"] = mean(f), max(f)
    return out
