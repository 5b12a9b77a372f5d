"""What the Triton and OpenAI-compatible engines share: budgeted prefix prompt -> resilient call ->
parsed bullets. Subclasses implement only the transport (``_generate``, ``_check_ready``)."""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from casenotes.engines.llm.budget import PromptBudget, make_counter
from casenotes.engines.llm.parser import ParseResult, parse_bullets, strip_echo
from casenotes.engines.llm.prompt import Prompt, notes_language
from casenotes.engines.llm.resilience import CircuitBreaker, Resilience
from casenotes.model import CaseView

log = logging.getLogger("casenotes.engines")


@dataclass
class AnswerStats:
    answers: int = 0
    empty_answers: int = 0  # the model said "nothing new" (or only junk)
    bullets: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count


@dataclass(frozen=True)
class LLMOptions:
    """Knobs shared by the LLM engines (the settings that feed them are listed in from_settings)."""

    timeout_s: float = 10.0
    max_tokens: int = 256
    context_tokens: int = 8192
    tokenizer: str = ""
    concurrency: int = 8
    notes_language: str = ""
    retries: int = 2
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "LLMOptions":
        values = dict(timeout_s=settings.llm_timeout_s, max_tokens=settings.llm_max_tokens,
                      context_tokens=settings.llm_context_tokens, tokenizer=settings.llm_tokenizer,
                      concurrency=settings.llm_concurrency, notes_language=settings.notes_language,
                      retries=settings.llm_retries, breaker_threshold=settings.llm_breaker_threshold,
                      breaker_cooldown_s=settings.llm_breaker_cooldown_s)
        values.update(overrides)
        return cls(**values)


class PrefixPromptEngine:
    name = "llm"

    def __init__(self, options: LLMOptions, endpoint: str, model: str) -> None:
        self.options = options
        self.endpoint = endpoint
        self.model = model
        self.model_version = model
        self.budget = PromptBudget(make_counter(options.tokenizer), options.context_tokens, options.max_tokens)
        self.resilience = Resilience(
            f"{self.name} {model}@{endpoint}", timeout_s=options.timeout_s, retries=options.retries,
            concurrency=options.concurrency,
            breaker=CircuitBreaker(options.breaker_threshold, options.breaker_cooldown_s))
        self.answer_stats = AnswerStats()
        #: The last prompt sent and raw answer received (for tests, debugging and edit logs).
        self.last_prompt: Prompt | None = None
        self.last_answer: str | None = None
        self.last_result: ParseResult | None = None
        self._start_lock = asyncio.Lock()

    # --- transport, per subclass -------------------------------------------------------------
    async def start(self) -> None:
        """Connect and check readiness; raises EngineError (EngineUnavailable when transient)."""
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        """A client exists: start() succeeded and close() has not been called since."""
        raise NotImplementedError

    async def _generate(self, prompt: Prompt) -> str:
        raise NotImplementedError

    async def ensure_started(self) -> None:
        """Connect on first use if start() has not succeeded yet. The worker starts the engine at
        start-up, but the server may come up later than the worker: until it is ready each call
        fails here, the case stays pending and the scheduler retries it with backoff."""
        if self.connected:
            return
        async with self._start_lock:
            if not self.connected:
                log.info("%s: not connected yet, checking readiness of %s", self.name, self.endpoint)
                await self.start()

    def _sent_text(self, prompt: Prompt) -> str:
        """The text an echoing server would repeat before its completion."""
        return prompt.completion_text()

    # --- the SummarizationEngine interface -----------------------------------------------------
    async def propose(self, view: CaseView) -> list[str]:
        return await self._propose(view, "progressive")

    async def summarize(self, view: CaseView) -> list[str]:
        """Bullets for the turns of ``view`` with the segment prompt (no prefix): the chunk and
        bulk baselines of the evaluation harness."""
        return await self._propose(view, "segment")

    async def _propose(self, view: CaseView, style: str) -> list[str]:
        if not view.new_messages:
            return []
        await self.ensure_started()
        prompt = self.budget.build(view, notes_language(view, self.options.notes_language), style)
        self.last_prompt = prompt
        answer = await self.resilience.call(lambda: self._generate(prompt), f"notes for case {view.case_id}")
        self.last_answer = answer
        result = parse_bullets(strip_echo(answer, self._sent_text(prompt)), prompt.prefix_bullets)
        self.last_result = result
        self.answer_stats.answers += 1
        self.answer_stats.bullets += len(result.bullets)
        self.answer_stats.empty_answers += not result.bullets
        self.answer_stats.rejected.update(result.rejected)
        if result.rejected:
            log.info("%s: case %s: rejected %s from the answer", self.name, view.case_id,
                     dict(result.rejected_counts))
        return result.bullets

    def stats(self) -> dict[str, Any]:
        """Flat counters for metrics: calls, retries, timeouts, circuit, cuts, rejected lines."""
        r, b, a = self.resilience.stats, self.budget.stats, self.answer_stats
        return {"calls": r.calls, "attempts": r.attempts, "retries": r.retries, "timeouts": r.timeouts,
                "failures": r.failures, "short_circuited": r.short_circuited, "circuit_opened": r.circuit_opened,
                "circuit_state": self.resilience.breaker.state, "prompts_cut": b.prompts_cut,
                "turns_omitted": b.turns_omitted, "answers": a.answers, "empty_answers": a.empty_answers,
                "bullets": a.bullets, "rejected": dict(a.rejected)}

    def _log_start(self, extra: str = "") -> None:
        log.info("summarization engine %s: model %s (version %s) at %s%s; counting tokens with %s",
                 self.name, self.model, self.model_version, self.endpoint, extra, self.budget.counter.name)
