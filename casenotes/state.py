"""Per-case state and its pure transitions: add a message, apply a note result, apply an edit.

The Faust worker keeps one ``CaseState`` per case in a RocksDB table and calls these methods
while processing an event; the offline tools call the very same methods, so a case replayed
offline yields exactly the bullets (and ids) the worker would produce.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from casenotes.model import Bullet, CaseMetadata, CaseView, Message, bullet_id_for

#: Messages at the start of a case that are never trimmed (they frame the case).
KEEP_CASE_START = 8
#: Edit ids remembered per case so that a redelivered edit is applied once.
REMEMBERED_EDITS = 256
#: Per-message latencies kept per case (for summaries; metrics hold the full distribution).
REMEMBERED_LATENCIES = 256


class EditError(ValueError):
    """An agent edit that cannot apply (unknown or deleted bullet, empty text, bad action)."""


def normalize(text: str) -> str:
    """Comparison form of a bullet: casefolded, accents and punctuation removed, spaces squeezed."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w$€£%.:/@-]+", " ", text)
    text = re.sub(r"(?<!\w)[.:/@-]+|[.:/@-]+(?!\w)", " ", text)  # keep 3:30, 12/03, a@b.c, 5.5
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Proposal:
    """A bullet the engine proposed and the classifier judged."""

    text: str
    label: str | None = None
    keep: bool = True
    keep_prob: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "keep": self.keep, "keep_prob": self.keep_prob}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Proposal":
        return cls(d["text"], d.get("label"), bool(d.get("keep", True)), d.get("keep_prob"))


@dataclass(frozen=True)
class NoteResult:
    """The outcome of one note-taking call over a case view, ready to apply to the state.

    ``last_message_id`` identifies how far the view reached: applying marks every message up
    to it as covered, so the result stays valid even if messages arrived in the meantime.
    """

    case_id: str
    last_message_id: str
    proposals: tuple[Proposal, ...] = ()
    engine: str = ""
    model_version: str = ""
    skipped: bool = False  # the substance gate decided no engine call was needed
    engine_ms: float = 0.0
    classifier_ms: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> list[Proposal]:
        return [p for p in self.proposals if p.keep]

    @property
    def dropped(self) -> list[Proposal]:
        return [p for p in self.proposals if not p.keep]

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "last_message_id": self.last_message_id,
            "proposals": [p.to_dict() for p in self.proposals], "engine": self.engine,
            "model_version": self.model_version, "skipped": self.skipped,
            "engine_ms": self.engine_ms, "classifier_ms": self.classifier_ms, "context": self.context,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NoteResult":
        return cls(
            case_id=d["case_id"], last_message_id=d["last_message_id"],
            proposals=tuple(Proposal.from_dict(p) for p in d.get("proposals", [])),
            engine=d.get("engine", ""), model_version=d.get("model_version", ""),
            skipped=bool(d.get("skipped", False)), engine_ms=float(d.get("engine_ms", 0.0)),
            classifier_ms=float(d.get("classifier_ms", 0.0)), context=d.get("context") or {},
        )


@dataclass(frozen=True)
class NoteChange:
    """A bullet that was added, edited or deleted: what the notes topic carries."""

    bullet: Bullet
    status: str  # added | edited | deleted
    latency_ms: float | None = None


@dataclass(frozen=True)
class EditApplied:
    change: NoteChange
    log_record: dict[str, Any]  # an EditLogRecord (schemas/edit_log_record.avsc) without ts


@dataclass
class CaseState:
    case_id: str
    metadata: CaseMetadata = field(default_factory=CaseMetadata)
    history: list[Message] = field(default_factory=list)
    received_ms: list[int] = field(default_factory=list)  # when each message reached the worker
    bullets: list[Bullet] = field(default_factory=list)  # every bullet, deleted ones included
    covered: int = 0  # history[:covered] is covered by notes
    next_seq: int = 1
    trimmed: int = 0  # messages dropped from the middle to respect max_history
    applied_edits: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # message received -> covered
    proposed: int = 0
    kept: int = 0
    dropped: int = 0

    # -- views -------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self.covered < len(self.history)

    @property
    def active_bullets(self) -> list[Bullet]:
        return [b for b in self.bullets if b.active]

    def view(self) -> CaseView:
        return CaseView(self.case_id, self.metadata, tuple(self.history), tuple(self.active_bullets), self.covered)

    def bullet(self, bullet_id: str) -> Bullet | None:
        return next((b for b in self.bullets if b.bullet_id == bullet_id), None)

    def message_index(self, message_id: str) -> int | None:
        return next((i for i, m in enumerate(self.history) if m.message_id == message_id), None)

    # -- transitions ---------------------------------------------------------------------
    def set_metadata(self, metadata: CaseMetadata) -> None:
        self.metadata = metadata

    def add_message(self, message: Message, received_ms: int, max_history: int = 400) -> bool:
        """Append a message; False when it is a redelivery of one already in the history."""
        if self.message_index(message.message_id) is not None:
            return False
        self.history.append(message)
        self.received_ms.append(received_ms)
        while len(self.history) > max(max_history, KEEP_CASE_START + 1) and self.covered > KEEP_CASE_START:
            # Drop the oldest covered message after the case start: notes already hold it.
            del self.history[KEEP_CASE_START]
            del self.received_ms[KEEP_CASE_START]
            self.covered -= 1
            self.trimmed += 1
        return True

    def apply_result(self, result: NoteResult, now_ms: int) -> list[NoteChange]:
        """Accept the kept proposals of a note result and mark its messages covered.

        Stale results (their messages are already covered, e.g. a redelivery after a restart)
        change nothing, which is what keeps bullet ids unique across replays.
        """
        idx = self.message_index(result.last_message_id)
        if idx is None or idx < self.covered:
            return []
        upto = idx + 1
        latencies = [max(0.0, float(now_ms - r)) for r in self.received_ms[self.covered:upto]]
        self.latencies_ms = (self.latencies_ms + latencies)[-REMEMBERED_LATENCIES:]
        latency = latencies[-1] if latencies else None
        self.covered = upto
        self.proposed += len(result.proposals)
        self.dropped += len(result.dropped)

        seen = {normalize(b.text) for b in self.bullets}  # deleted ones too: never re-add them
        prefix = result.context.get("prefix", [b.text for b in self.active_bullets])
        changes = []
        for p in result.kept:
            key = normalize(p.text)
            if not key or key in seen:
                continue
            seen.add(key)
            bullet = Bullet(
                bullet_id=bullet_id_for(self.case_id, self.next_seq), seq=self.next_seq, text=p.text.strip(),
                source="model", label=p.label, keep_prob=p.keep_prob, engine=result.engine,
                model_version=result.model_version, trigger_message_id=result.last_message_id,
                context={"message_ids": result.context.get("message_ids", []), "prefix": prefix},
            )
            self.next_seq += 1
            self.kept += 1
            self.bullets.append(bullet)
            changes.append(NoteChange(bullet, "added", latency))
        return changes

    def apply_edit(self, edit: dict[str, Any]) -> EditApplied | None:
        """Apply an agent edit (an AgentEdit record). None when the edit was already applied."""
        edit_id, action = edit["edit_id"], edit["action"]
        if edit_id in self.applied_edits:
            return None
        text = (edit.get("text") or "").strip()
        if action == "add":
            if not text:
                raise EditError("an 'add' edit needs non-empty text")
            bullet = Bullet(bullet_id_for(self.case_id, self.next_seq), self.next_seq, text, source="agent",
                            edited=True, engine="agent", trigger_message_id=self._last_message_id(),
                            context={"message_ids": [], "prefix": [b.text for b in self.active_bullets]})
            self.next_seq += 1
            self.bullets.append(bullet)
            before, status = None, "added"
        else:
            bullet_id = edit.get("bullet_id")
            bullet = self.bullet(bullet_id) if bullet_id else None
            if bullet is None:
                raise EditError(f"unknown bullet {bullet_id!r} for case {self.case_id!r}")
            if not bullet.active:
                raise EditError(f"bullet {bullet_id!r} is already deleted")
            before = bullet.text
            if action == "edit":
                if not text:
                    raise EditError("an 'edit' needs non-empty text (use action 'delete' to remove a bullet)")
                bullet.text, status = text, "edited"
            elif action == "delete":
                bullet.status, status = "deleted", "deleted"
            else:
                raise EditError(f"unknown edit action {action!r}")
            bullet.version += 1
            bullet.edited = True
        self.applied_edits = (self.applied_edits + [edit_id])[-REMEMBERED_EDITS:]
        record = {
            "edit_id": edit_id, "case_id": self.case_id, "bullet_id": bullet.bullet_id, "action": action,
            "agent_id": edit.get("agent_id") or "", "before": before,
            "after": None if action == "delete" else bullet.text, "bullet_source": bullet.source,
            "bullet_version": bullet.version, "engine": bullet.engine, "model_version": bullet.model_version,
            "trigger_message_id": bullet.trigger_message_id,
            "generation_context": self.generation_context(bullet),
        }
        return EditApplied(NoteChange(bullet, status), record)

    def generation_context(self, bullet: Bullet) -> dict[str, Any]:
        """The inputs that produced ``bullet``: metadata, history up to its trigger, the prefix."""
        idx = self.message_index(bullet.trigger_message_id) if bullet.trigger_message_id else None
        history = self.history[: idx + 1] if idx is not None else list(self.history)
        return {
            "metadata": self.metadata.to_dict(),
            "history": [m.to_dict() for m in history],
            "prefix_bullets": list(bullet.context.get("prefix", [])),
            "new_message_ids": list(bullet.context.get("message_ids", [])),
            "engine": bullet.engine, "model_version": bullet.model_version,
            "history_trimmed": self.trimmed,
        }

    def _last_message_id(self) -> str | None:
        return self.history[-1].message_id if self.history else None

    # -- persistence (JSON-compatible dicts for the table) --------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "metadata": self.metadata.to_dict(),
            "history": [m.to_dict() for m in self.history], "received_ms": self.received_ms,
            "bullets": [b.to_dict() for b in self.bullets], "covered": self.covered,
            "next_seq": self.next_seq, "trimmed": self.trimmed, "applied_edits": self.applied_edits,
            "latencies_ms": self.latencies_ms, "proposed": self.proposed, "kept": self.kept,
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaseState":
        return cls(
            case_id=d["case_id"], metadata=CaseMetadata.from_dict(d.get("metadata")),
            history=[Message.from_dict(m) for m in d.get("history", [])],
            received_ms=list(d.get("received_ms", [])),
            bullets=[Bullet.from_dict(b) for b in d.get("bullets", [])], covered=d.get("covered", 0),
            next_seq=d.get("next_seq", 1), trimmed=d.get("trimmed", 0),
            applied_edits=list(d.get("applied_edits", [])), latencies_ms=list(d.get("latencies_ms", [])),
            proposed=d.get("proposed", 0), kept=d.get("kept", 0), dropped=d.get("dropped", 0),
        )
