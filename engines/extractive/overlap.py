"""Redundancy between notes: normalised content-token overlap, with codes and amounts kept whole.

A new note is redundant when (almost) everything it says is already in one earlier note,
whether that note was generated or written/edited by an agent.
"""
from __future__ import annotations

import re
import unicodedata

from casenotes.engines.extractive.lexicon import LEXICONS, Lexicon
from casenotes.textcache import per_text

_TOKEN = re.compile(r"[\w@$€£]+(?:[.,'/@-][\w]+)*", re.U)
# Attribution words of every language: "Customer reports" adds nothing to compare on.
_ATTRIBUTION = frozenset().union(*(lex.stopwords for lex in LEXICONS.values()))


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _stem(word: str) -> str:
    if any(c.isdigit() for c in word):
        return word  # codes, amounts, dates stay verbatim
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_tokens(text: str, lex: Lexicon) -> frozenset[str]:
    # Every engine call compares against all of the case's notes: remember each text's tokens.
    return _content_tokens(text, lex.code)


@per_text()
def _content_tokens(text: str, code: str) -> frozenset[str]:
    lex = LEXICONS[code]
    out = set()
    for raw in _TOKEN.findall(text.lower()):
        word = raw.strip("'")
        if word in _ATTRIBUTION or word in lex.stopwords or len(word) < 2 and not word.isdigit():
            continue
        word = lex.synonyms.get(word, word)
        out.add(_fold(_stem(word)))
    return frozenset(out)


def is_redundant(tokens: frozenset[str], earlier: list[frozenset[str]]) -> bool:
    """True when ``tokens`` adds nothing to one of the ``earlier`` notes (or is empty)."""
    if not tokens:
        return True
    need = 1.0 if len(tokens) <= 2 else 0.8
    for other in earlier:
        shared = len(tokens & other)
        if shared / len(tokens) >= need or shared / len(tokens | other) >= 0.6:
            return True
    return False
