"""The systems compared by the harness. Each turns a ``Dialogue`` into final notes plus cost.

    progressive           the product: the note-taker message by message, relevance classifier on
    progressive-nofilter  the same without the classifier (the filter ablation)
    chunk-N               summarize every N words of conversation, appending bullets
    bulk                  one call at the end of the conversation
    lead-K, longest-K, first-last[-tagged]   engine-free baselines (turns copied as they are)

Engine systems go through the same engines and ``NoteTaker`` as the worker. LLM engines get the
segment prompt for chunk and bulk (``engine.summarize``: same rules, no prefix); the extractive
engine is simply run over the chunk or the whole conversation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from casenotes.engines.base import RelevanceClassifier, SummarizationEngine
from casenotes.engines.llm.budget import EstimatingCounter, TokenCounter
from casenotes.engines.llm.prompt import build_prompt, notes_language
from casenotes.engines.relevance.passthrough import PassthroughClassifier
from casenotes.eval.datasets import Dialogue
from casenotes.model import CaseView, Message
from casenotes.notetaker import NoteTaker
from casenotes.offline import take_notes_progressively
from casenotes.state import NoteResult, normalize

DEFAULT_SYSTEMS = ("progressive", "progressive-nofilter", "chunk-200", "chunk-500", "bulk")
BASELINES = ("lead-2", "lead-3", "longest-2", "first-last", "first-last-tagged")


@dataclass
class SystemRun:
    """One system's final notes for one dialogue, and what producing them cost."""

    system: str
    dialogue_id: str
    notes: list[str] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # proposals the classifier dropped
    engine_calls: int = 0
    prompt_tokens: int = 0  # of the LLM prompts these calls send (estimated for non-LLM engines)
    engine_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class System(Protocol):
    name: str

    async def run(self, dialogue: Dialogue) -> SystemRun: ...


@dataclass
class Components:
    """What engine systems share: one engine and one classifier, started once."""

    engine: SummarizationEngine
    classifier: RelevanceClassifier
    passthrough: RelevanceClassifier = field(default_factory=PassthroughClassifier)

    @property
    def counter(self) -> TokenCounter:
        budget = getattr(self.engine, "budget", None)
        return budget.counter if budget is not None else EstimatingCounter()

    def prompt_tokens(self, view: CaseView, style: str) -> int:
        """Tokens of the prompt an LLM engine sends for ``view`` (before any budget cut)."""
        prompt = build_prompt(view, language=notes_language(view), style=style)
        return self.counter.count(prompt.completion_text())


class _SegmentEngine:
    """Presents an engine's segment summary (``summarize``) as ``propose`` to the NoteTaker."""

    def __init__(self, engine: SummarizationEngine) -> None:
        self.engine = engine
        self.name, self.model_version = engine.name, engine.model_version

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def propose(self, view: CaseView) -> list[str]:
        summarize = getattr(self.engine, "summarize", None)
        return await (summarize(view) if summarize else self.engine.propose(view))


def _record(run: SystemRun, result: NoteResult, tokens: int) -> None:
    if not result.skipped:
        run.engine_calls += 1
        run.prompt_tokens += tokens
        run.engine_ms += result.engine_ms
    run.dropped.extend(p.text for p in result.dropped)


class Progressive:
    """The product path: one note-taking call per message (the substance gate may skip it)."""

    def __init__(self, parts: Components, filtered: bool = True) -> None:
        self.parts = parts
        self.name = "progressive" if filtered else "progressive-nofilter"
        self.notetaker = NoteTaker(parts.engine, parts.classifier if filtered else parts.passthrough)

    async def run(self, dialogue: Dialogue) -> SystemRun:
        run = SystemRun(self.name, dialogue.id)
        async for step in take_notes_progressively(dialogue.case, self.notetaker):
            tokens = 0 if step.result.skipped else self.parts.prompt_tokens(step.view, "progressive")
            _record(run, step.result, tokens)
            run.notes.extend(c.bullet.text for c in step.added)
            run.labels.extend(c.bullet.label for c in step.added)
        return run


def chunk_ends(messages: Sequence[Message], words: int) -> list[int]:
    """Exclusive end indexes of consecutive chunks of at least ``words`` words (the last may be
    shorter): a chunk closes at the first message that brings it to the size."""
    ends, count = [], 0
    for i, m in enumerate(messages):
        count += len(m.text.split())
        if count >= words:
            ends.append(i + 1)
            count = 0
    if not ends or ends[-1] != len(messages):
        ends.append(len(messages))
    return ends


class Segmented:
    """Summarize segments independently (no prefix) and append new bullets: chunk-N and bulk."""

    def __init__(self, parts: Components, words: int | None) -> None:
        self.parts = parts
        self.words = words
        self.name = f"chunk-{words}" if words else "bulk"
        self.notetaker = NoteTaker(_SegmentEngine(parts.engine), parts.classifier)

    async def run(self, dialogue: Dialogue) -> SystemRun:
        run = SystemRun(self.name, dialogue.id)
        events = dialogue.case.events
        ends = chunk_ends(events, self.words) if self.words else [len(events)]
        seen: set[str] = set()
        start = 0
        for end in ends:
            view = CaseView(dialogue.case.case_id, dialogue.case.metadata, events[start:end], (), 0)
            result = await self.notetaker.take_notes(view)
            _record(run, result, 0 if result.skipped else self.parts.prompt_tokens(view, "segment"))
            for p in result.kept:
                key = normalize(p.text)
                if key and key not in seen:
                    seen.add(key)
                    run.notes.append(p.text.strip())
                    run.labels.append(p.label)
            start = end
        return run


# --- engine-free baselines -----------------------------------------------------------------
def _tag(m: Message, tagged: bool) -> str:
    return f"{m.role.capitalize()}: {m.text}" if tagged else m.text


def lead(turns: Sequence[Message], k: int) -> list[Message]:
    return list(turns[:k])


def longest(turns: Sequence[Message], k: int) -> list[Message]:
    chosen = sorted(range(len(turns)), key=lambda i: -len(turns[i].text.split()))[:k]
    return [turns[i] for i in sorted(chosen)]


def first_last(turns: Sequence[Message]) -> list[Message]:
    """The first customer turn (the issue) and the last agent turn (the resolution)."""
    first = next((m for m in turns if m.role == "customer"), None)
    last = next((m for m in reversed(turns) if m.role == "agent"), None)
    return [m for m in (first, last) if m is not None]


class Baseline:
    def __init__(self, name: str, pick: Callable[[Sequence[Message]], list[Message]], tagged: bool = False) -> None:
        self.name, self.pick, self.tagged = name, pick, tagged

    async def run(self, dialogue: Dialogue) -> SystemRun:
        chosen = self.pick([m for m in dialogue.turns if m.role != "system"])
        return SystemRun(self.name, dialogue.id, notes=[_tag(m, self.tagged) for m in chosen],
                         labels=[None] * len(chosen))


_K = re.compile(r"^(lead|longest)-(\d+)$")
_CHUNK = re.compile(r"^chunk-(\d+)$")


def needs_engine(name: str) -> bool:
    return name.startswith(("progressive", "chunk-")) or name == "bulk"


def check_system(name: str) -> None:
    """Raise ValueError for a name no system has (before any work is done)."""
    if not (name in ("progressive", "progressive-nofilter", "bulk", "first-last", "first-last-tagged")
            or _K.match(name) or (_CHUNK.match(name) and int(name.split("-")[1]) >= 1)):
        raise ValueError(f"unknown system {name!r}: use progressive, progressive-nofilter, chunk-N, bulk, "
                         f"lead-K, longest-K, first-last or first-last-tagged")


def make_system(name: str, parts: Components | None) -> System:
    """A system by name (see the module docstring). Engine systems need ``parts``."""
    check_system(name)
    if needs_engine(name) and parts is None:
        raise ValueError(f"system {name!r} needs an engine")
    if name in ("progressive", "progressive-nofilter"):
        return Progressive(parts, filtered=name == "progressive")
    if name == "bulk":
        return Segmented(parts, None)
    if m := _CHUNK.match(name):
        return Segmented(parts, int(m.group(1)))
    if m := _K.match(name):
        k = int(m.group(2))
        return Baseline(name, (lambda t: lead(t, k)) if m.group(1) == "lead" else (lambda t: longest(t, k)))
    return Baseline(name, first_last, tagged=name.endswith("tagged"))

