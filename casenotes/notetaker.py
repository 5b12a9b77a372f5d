"""The note-taking step, free of Faust: case view in, judged proposals out.

    view ──normalise──> redact (opt-in) ──> substance gate ──> neutralise injections ──> engine.propose
         ──dedupe, screen injected bullets──> classifier.classify ──> NoteResult (+ a flag note if attacked)

Normalising here (handles, URLs, signatures, emoji, shouting: :mod:`casenotes.engines.normalize`)
means every engine and the classifier read clean text; the case history keeps the original.

The worker runs it for a case whenever new messages arrive (one call in flight per case);
``casenotes take-notes`` and the evaluation harness run it over case files.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from casenotes.engines.base import RelevanceClassifier, SummarizationEngine
from casenotes.engines.normalize import normalize_message
from casenotes.injection import FLAG_LABEL, neutralize_view, screen_bullets
from casenotes.redact import Redactor, redact_view, redacts_engine
from casenotes.settings import Settings
from casenotes.textcache import per_text
from casenotes.model import CaseView, Message, Relevance
from casenotes.state import NoteResult, Proposal, normalize

# Messages made only of these words carry nothing new (EN/FR/ES greetings, thanks, acks, holds).
_TRIVIAL = set(
    """
    hi hello hey hiya good morning afternoon evening day thanks thank you so much very thx ty cheers ok okay
    k alright sure great perfect cool fine yes yeah yep no nope bye goodbye see later have a nice one moment
    please hold on sec second minute wait let me check still there are you i am here got it understood noted
    bonjour bonsoir salut merci beaucoup d'accord oui non parfait super très bien au revoir un instant s'il
    vous plaît svp je vérifie ne quittez pas
    hola buenos buenas días tardes noches gracias muchas vale sí si perfecto genial claro adiós hasta luego
    momento por favor un espere
    um uh hmm mm ah oh euh ben bueno pues
    """.split()
)
_WORD = re.compile(r"[\w'’]+", re.UNICODE)


def is_trivial(text: str) -> bool:
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    return all(w in _TRIVIAL for w in words)


def has_substance(new: Sequence[Message], history: Sequence[Message]) -> bool:
    """Is there substantial new information worth an engine call?

    Cheap and conservative: only messages that are pure greetings/thanks/acks/holds, or system
    messages, are skipped; a short answer right after an agent question ("yes", "no") counts.
    """
    start = len(history) - len(new)
    for i, m in enumerate(new):
        if m.role == "system" or not m.text.strip():
            continue
        if not is_trivial(m.text):
            return True
        prev = history[start + i - 1] if start + i > 0 else None
        if prev is not None and prev.role == "agent" and m.role == "customer" and "?" in prev.text:
            return True
    return False


def normalized_view(view: CaseView) -> CaseView:
    """The view with social-media decoration removed from every message."""
    return replace(view, history=tuple(_normalized(m) for m in view.history))


@per_text()  # a case's whole history comes back on every call: normalise each once
def _normalized(m: Message) -> Message:
    text = normalize_message(m.text, m.role)
    return m if text == m.text else replace(m, text=text)


class NoteTaker:
    """``redact``: ``off`` | ``engine`` | ``engine+log`` (``casenotes.redact``): from ``engine`` on,
    engines and LLM servers see per-case placeholders ([EMAIL_1]) instead of private values."""

    def __init__(self, engine: SummarizationEngine, classifier: RelevanceClassifier, redact: str = "off",
                 keep_originals: bool = False) -> None:
        self.engine = engine
        self.classifier = classifier
        self.redacts = redacts_engine(redact)  # also validates the mode
        self.keep_originals = keep_originals
        # ``view -> Drafted`` elsewhere (child processes: ``casenotes.offload``); None: here.
        self.offload: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: SummarizationEngine | None = None,
                      classifier: RelevanceClassifier | None = None) -> "NoteTaker":
        from casenotes.engines.factory import make_classifier, make_engine
        from casenotes.offload import EngineProcesses, supports

        taker = cls(engine or make_engine(settings), classifier or make_classifier(settings), settings.redact,
                    settings.redact_keep_originals)
        if settings.engine_processes > 0 and supports(taker.engine):
            taker.offload = EngineProcesses(settings, settings.engine_processes)
        return taker

    async def start(self) -> None:
        await self.engine.start()
        await self.classifier.start()
        if self.offload is not None:
            await self.offload.start()

    async def close(self) -> None:
        if self.offload is not None:
            await self.offload.close()
        await self.engine.close()
        await self.classifier.close()

    def _engine_holds_back(self, view: CaseView) -> bool:
        holds_back = getattr(self.engine, "holds_back", None)
        return bool(holds_back and holds_back(view))

    async def take_notes(self, view: CaseView) -> NoteResult:
        """Propose, dedupe and judge new bullets for ``view.new_messages``.

        Engine failures propagate (``EngineError``): the caller keeps the case pending.
        """
        if self.offload is not None:  # a CPU-bound engine in a child process (casenotes.offload)
            drafted = await self.offload(view)
        else:
            prepared = self.prepare(view)
            if isinstance(prepared, Drafted):
                drafted = prepared
            else:
                t0 = time.perf_counter()
                proposed = await self.engine.propose(prepared.engine_view)
                drafted = self.screen(prepared, proposed, (time.perf_counter() - t0) * 1e3)
        return await self.judge(drafted)

    def draft(self, view: CaseView) -> "Drafted":
        """Everything before the classifier, synchronously: for engines with ``propose_sync``
        (CPU-bound, no I/O), run in a child process so the worker's event loop stays free."""
        prepared = self.prepare(view)
        if isinstance(prepared, Drafted):
            return prepared
        t0 = time.perf_counter()
        proposed = self.engine.propose_sync(prepared.engine_view)  # type: ignore[attr-defined]
        return self.screen(prepared, proposed, (time.perf_counter() - t0) * 1e3)

    def prepare(self, view: CaseView) -> "Prepared | Drafted":
        """Normalise, redact and gate ``view``; a ``Drafted`` (skipped) when there is nothing to ask."""
        if not view.new_messages:
            raise ValueError(f"case {view.case_id!r} has no new messages to take notes on")
        view = normalized_view(view)
        redaction = None
        if self.redacts:  # before anything leaves the process (engines, LLM servers)
            redactor = Redactor.from_dict(view.redaction, self.keep_originals)
            view = redact_view(view, redactor)
            redaction = redactor.to_dict()
        new = view.new_messages
        base = dict(case_id=view.case_id, last_message_id=new[-1].message_id,
                    engine=self.engine.name, model_version=self.engine.model_version, redaction=redaction,
                    context={"message_ids": [m.message_id for m in new],
                             # What the engine saw as accepted notes (agent edits included).
                             "prefix": [b.text for b in view.bullets]})
        if not has_substance(new, view.history) and not self._engine_holds_back(view):
            return Drafted(base, skipped=True)
        # Customer text is data: instructions aimed at the note-taker are replaced by a marker
        # before the engine reads them, and no bullet may carry them; the attempt is flagged.
        return Prepared(base, view, neutralize_view(view))

    def screen(self, prepared: "Prepared", proposed: Sequence[str], engine_ms: float) -> "Drafted":
        texts, flag = screen_bullets(_dedupe(proposed, [b.text for b in prepared.view.bullets]), prepared.view)
        return Drafted(prepared.base, texts=tuple(texts), flag=flag, engine_ms=engine_ms,
                       had_bullets=bool(prepared.view.bullets))

    async def judge(self, drafted: "Drafted") -> NoteResult:
        """The classifier's verdicts on the drafted bullets (batched across cases: in the loop)."""
        if drafted.skipped:
            return NoteResult(skipped=True, **drafted.base)
        texts = list(drafted.texts)
        t1 = time.perf_counter()
        verdicts: list[Relevance] = list(await self.classifier.classify(texts)) if texts else []
        t2 = time.perf_counter()
        if len(verdicts) != len(texts):
            raise RuntimeError(f"classifier returned {len(verdicts)} verdicts for {len(texts)} bullets")
        keep = [v.keep for v in verdicts]
        if verdicts and not any(keep) and not drafted.had_bullets:
            # A case without notes keeps its likeliest point: the classifier, trained on support
            # bullets, can drop every point of an unusual conversation, and a case with no notes
            # at all is worse than one modest note (the agent can still delete it).
            keep[max(range(len(verdicts)), key=lambda i: verdicts[i].keep_prob)] = True
        proposals = tuple(Proposal(t, v.label, k, round(v.keep_prob, 4)) for t, v, k in zip(texts, verdicts, keep))
        if drafted.flag:
            proposals += (Proposal(drafted.flag, FLAG_LABEL, True, 1.0),)
        return NoteResult(proposals=proposals, engine_ms=drafted.engine_ms, classifier_ms=(t2 - t1) * 1e3,
                          **drafted.base)


@dataclass(frozen=True)
class Prepared:
    """A view ready for the engine: ``view`` normalised (and redacted), ``engine_view`` also
    neutralised; ``base``: the NoteResult fields known before the engine runs."""
    base: dict
    view: CaseView
    engine_view: CaseView


@dataclass(frozen=True)
class Drafted:
    """The engine's screened bullets before the classifier (picklable: crosses processes)."""
    base: dict
    skipped: bool = False
    texts: tuple[str, ...] = ()
    flag: str | None = None
    engine_ms: float = 0.0
    had_bullets: bool = False


def _dedupe(texts: Sequence[str], existing: Sequence[str]) -> list[str]:
    seen = {normalize(t) for t in existing}
    out = []
    for t in texts:
        t = t.strip()
        key = normalize(t)
        if key and key not in seen:
            seen.add(key)
            out.append(t)
    return out
