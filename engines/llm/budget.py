"""Token budget: fit a case into the model's context by cutting the MIDDLE of the history.

Never cut: the instructions, the case header, the accepted bullets (they are the answer prefix),
the first turns of the case (how it started) and the newest turns (what the notes are about).
Every cut is counted in ``BudgetStats``, logged, and visible in the prompt as an
``[... N earlier messages omitted ...]`` marker.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Protocol

from casenotes.engines.base import EngineError
from casenotes.engines.llm.prompt import Omission, Prompt, Turn, build_prompt, history_turns, render_turn
from casenotes.model import CaseView

log = logging.getLogger("casenotes.engines")

#: Turns at the start of a case that are kept whatever the length (the opening states the issue).
HEAD_TURNS = 3
#: Newest turns always kept, besides all new ones.
TAIL_TURNS = 4
#: Tokens per separator between rendered turns (newline) and safety margin on estimates.
_SEPARATOR_TOKENS = 1


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class EstimatingCounter:
    """No tokenizer at hand: ~3 characters per token, rounded up. Real BPE tokenizers average
    ~4 characters per token on English and less on FR/ES, digits and markup; 3 errs on the
    side of a prompt that fits."""

    name = "estimate"

    def __init__(self, chars_per_token: float = 3.0) -> None:
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token) if text else 0


class HFTokenCounter:
    """Exact counts with the model's own tokenizer, loaded from a local directory only."""

    def __init__(self, directory: str) -> None:
        from transformers import AutoTokenizer  # heavy import, only when configured

        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.name = f"tokenizer:{os.path.basename(os.path.normpath(directory))}"

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


def make_counter(tokenizer_dir: str) -> TokenCounter:
    if not tokenizer_dir:
        return EstimatingCounter()
    if not os.path.isdir(tokenizer_dir):
        raise ValueError(f"CASENOTES_LLM_TOKENIZER={tokenizer_dir!r} is not a local directory")
    return HFTokenCounter(tokenizer_dir)


@dataclass
class BudgetStats:
    """Counters of what the budget did; exported by whoever owns metrics."""

    prompts: int = 0
    prompts_cut: int = 0
    turns_omitted: int = 0


class PromptBudget:
    """Builds prompts that fit ``context_tokens - max_tokens`` (room is kept for the answer)."""

    def __init__(self, counter: TokenCounter, context_tokens: int, max_tokens: int,
                 head_turns: int = HEAD_TURNS, tail_turns: int = TAIL_TURNS,
                 on_cut: Callable[[CaseView, int], None] | None = None) -> None:
        if context_tokens <= max_tokens:
            raise ValueError(f"context of {context_tokens} tokens leaves no room for prompts of an "
                             f"answer of up to {max_tokens} tokens")
        self.counter = counter
        self.limit = context_tokens - max_tokens
        self.head_turns = head_turns
        self.tail_turns = tail_turns
        self.stats = BudgetStats()
        self.on_cut = on_cut

    def build(self, view: CaseView, language: str, style: str = "progressive") -> Prompt:
        self.stats.prompts += 1
        full = build_prompt(view, language=language, style=style)
        if self.counter.count(full.completion_text()) <= self.limit:
            return full
        turns = history_turns(view)
        costs = [self.counter.count(render_turn(t)) + _SEPARATOR_TOKENS for t in turns]
        empty = build_prompt(view, items=[Omission(len(turns))], language=language, style=style)
        fixed = self.counter.count(empty.completion_text())
        keep = self._choose(view, costs, self.limit - fixed)
        while True:
            prompt = build_prompt(view, items=_with_markers(turns, keep), language=language, style=style)
            # Per-turn counts are additive only approximately: verify, drop one more if needed.
            if self.counter.count(prompt.completion_text()) <= self.limit:
                break
            droppable = [i for i in self._middle_order(view, len(turns)) if i in keep]
            if not droppable:
                raise EngineError(f"case {view.case_id}: the newest turn alone does not fit the "
                                  f"{self.limit}-token prompt budget")
            keep.discard(droppable[0])
        self.stats.prompts_cut += 1
        self.stats.turns_omitted += prompt.omitted_turns
        log.warning("case %s: prompt over %d tokens, cut %d of %d turns from the middle of the history",
                    view.case_id, self.limit, prompt.omitted_turns, len(turns))
        if self.on_cut:
            self.on_cut(view, prompt.omitted_turns)
        return prompt

    def _middle_order(self, view: CaseView, n: int) -> list[int]:
        """Turns in the order they are given up: the middle (oldest first), then the head
        (last first), then old new-turns; the newest turn never."""
        protected_tail = max(view.covered, n - self.tail_turns)
        head = list(range(min(self.head_turns, n)))
        middle = [i for i in range(len(head), protected_tail)]
        new_or_tail = [i for i in range(max(len(head), protected_tail), n - 1)]
        return middle + head[::-1] + new_or_tail

    def _choose(self, view: CaseView, costs: list[int], room: int) -> set[int]:
        n = len(costs)
        keep = set(range(n))
        used = sum(costs)
        for i in self._middle_order(view, n):
            if used <= room:
                break
            keep.discard(i)
            used -= costs[i]
        return keep


def _with_markers(turns: list[Turn], keep: set[int]) -> list[Turn | Omission]:
    items: list[Turn | Omission] = []
    gap = 0
    for t in turns:
        if t.index in keep:
            if gap:
                items.append(Omission(gap))
                gap = 0
            items.append(t)
        else:
            gap += 1
    if gap:
        items.append(Omission(gap))
    return items
