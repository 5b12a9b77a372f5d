"""Per-case state and its pure transitions: add a message, apply a note result, apply an edit.

The Faust worker keeps one ``CaseState`` per case in a RocksDB table and calls these methods
while processing an event; the offline tools call the very same methods, so a case replayed
offline yields exactly the bullets (and ids) the worker would produce.

The state is **bounded in bytes, whatever the case length** (a 5,000-message case costs what a
300-message one does):

* a bullet's generation context holds *references* — the range of messages it was generated
  from and the prefix as a seq bound plus the few seqs that were not in it — never copies of
  earlier bullet texts; the edit log rebuilds the prefix texts from them at edit time;
* the history is compacted from the middle past ``max_history`` messages or
  ``HISTORY_BUDGET_BYTES`` of text (the case start and uncovered messages are kept; the notes
  already summarise the rest, and the prompt builder would cut the middle anyway). Only when
  *uncovered* messages alone exceed the budget (e.g. a long engine outage on one case) are the
  oldest of them dropped too, counted in ``overflowed``;
* past ``BULLET_BUDGET_BYTES`` of bullet text the oldest bullets after the first
  ``KEEP_BULLETS_START`` are archived: they stay published on the notes topic, a short hash of
  their text keeps generation from re-adding them, and an edit of one is rejected (dead letter);
* ``to_bytes`` is the serialised record and guarantees ``len <= MAX_RECORD_BYTES`` (compacting
  harder if needed, raising ``StateTooLarge`` only for inputs no compaction can fix, such as a
  megabyte-long case id), so the changelog producer never sees a record over its limit.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable

from casenotes.model import Bullet, CaseMetadata, CaseView, Message, bullet_id_for
from casenotes.textcache import per_text

#: Messages at the start of a case that are never trimmed (they frame the case).
KEEP_CASE_START = 8
#: Bullets at the start of a case that are never archived.
KEEP_BULLETS_START = 8
#: Edit ids remembered per case so that a redelivered edit is applied once.
REMEMBERED_EDITS = 256
#: Per-message latencies kept per case (for summaries; metrics hold the full distribution).
REMEMBERED_LATENCIES = 256
#: Hashes of archived bullets' texts remembered so that generation never re-adds them.
REMEMBERED_ARCHIVED = 1024
#: Ids (hashed) of messages compacted out of the history, so a redelivery is not re-appended.
REMEMBERED_TRIMMED_IDS = 512
#: Text bytes of history kept in the state (UTF-8, plus a per-message allowance).
HISTORY_BUDGET_BYTES = 64_000
#: A backlog of uncovered messages may grow to this many history budgets (a burst, an engine
#: outage) before its oldest messages are dropped (``overflowed``).
UNCOVERED_FACTOR = 4
#: Text bytes of bullets kept in the state.
BULLET_BUDGET_BYTES = 32_000
#: Hard cap of the serialised record (the changelog producer refuses ~1 MB).
MAX_RECORD_BYTES = 512_000
#: Per-item allowance for ids, timestamps and JSON punctuation in the byte estimates.
_MESSAGE_OVERHEAD = 160
_BULLET_OVERHEAD = 320


class EditError(ValueError):
    """An agent edit that cannot apply (unknown, archived or deleted bullet, empty text, bad action)."""


class StateTooLarge(ValueError):
    """A case record that no compaction brings under ``MAX_RECORD_BYTES`` (pathological ids or
    metadata). The event that caused it is rejected; the stored state is unchanged."""


@per_text()  # a case's bullets are compared again on every engine call
def normalize(text: str) -> str:
    """Comparison form of a bullet: casefolded, accents and punctuation removed, spaces squeezed."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w$€£%.:/@-]+", " ", text)
    text = re.sub(r"(?<!\w)[.:/@-]+|[.:/@-]+(?!\w)", " ", text)  # keep 3:30, 12/03, a@b.c, 5.5
    return re.sub(r"\s+", " ", text).strip()


def short_hash(text: str) -> str:
    """48-bit hex digest: small enough to remember thousands, collisions negligible per case."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def _text_bytes(text: str) -> int:
    # UTF-8 size without encoding: exact for ASCII, an upper bound (3 bytes) for the rest.
    return len(text) if text.isascii() else 3 * len(text)


def _message_bytes(m: Message) -> int:
    return _text_bytes(m.text) + len(m.message_id) + _MESSAGE_OVERHEAD


def _bullet_bytes(b: Bullet) -> int:
    return _text_bytes(b.text) + _BULLET_OVERHEAD + 12 * len(b.context.get("prefix_without", ()))


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
    ``context`` may carry ``message_ids`` (the new messages), ``prefix`` (the texts the engine
    saw as accepted notes) or ``prefix_seqs`` (their seqs, preferred: no text copies).
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
    #: The redactor's state after redacting the view (``Redactor.to_dict()``), None when off.
    redaction: dict[str, Any] | None = None

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
            **({"redaction": self.redaction} if self.redaction else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NoteResult":
        return cls(
            case_id=d["case_id"], last_message_id=d["last_message_id"],
            proposals=tuple(Proposal.from_dict(p) for p in d.get("proposals", [])),
            engine=d.get("engine", ""), model_version=d.get("model_version", ""),
            skipped=bool(d.get("skipped", False)), engine_ms=float(d.get("engine_ms", 0.0)),
            classifier_ms=float(d.get("classifier_ms", 0.0)), context=d.get("context") or {},
            redaction=d.get("redaction") or None,
        )

    def with_prefix_refs(self, view: CaseView) -> "NoteResult":
        """The same result with the prefix as seqs of ``view``'s bullets instead of their texts."""
        ctx = {k: v for k, v in self.context.items() if k not in ("prefix", "message_ids")}
        ctx["prefix_seqs"] = [b.seq for b in view.bullets]
        ids = self.context.get("message_ids") or []
        if ids:
            ctx["new_from"], ctx["new_to"] = ids[0], ids[-1]
        return NoteResult(self.case_id, self.last_message_id, self.proposals, self.engine, self.model_version,
                          self.skipped, self.engine_ms, self.classifier_ms, ctx, self.redaction)


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
    bullets: list[Bullet] = field(default_factory=list)  # every kept bullet, deleted ones included
    covered: int = 0  # history[:covered] is covered by notes
    next_seq: int = 1
    trimmed: int = 0  # messages compacted out of the history (covered ones, then overflow)
    applied_edits: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # message received -> covered
    proposed: int = 0
    kept: int = 0
    dropped: int = 0
    overflowed: int = 0  # uncovered messages dropped because the backlog alone exceeded the budget
    archived: int = 0  # active bullets archived out of the state (still on the notes topic)
    archived_keys: list[str] = field(default_factory=list)  # short_hash(normalize(text)) of archived bullets
    trimmed_ids: list[str] = field(default_factory=list)  # short_hash(message_id) of compacted messages
    #: ``casenotes.redact.Redactor`` state (placeholder numbering, salt): empty until redaction runs.
    redaction: dict[str, Any] = field(default_factory=dict)
    history_budget: int = field(default=HISTORY_BUDGET_BYTES, compare=False, repr=False)
    bullet_budget: int = field(default=BULLET_BUDGET_BYTES, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._norm: dict[str, str] = {}
        self._hist_bytes = sum(_message_bytes(m) for m in self.history)
        self._bullet_bytes = sum(_bullet_bytes(b) for b in self.bullets)

    # -- views -------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self.covered < len(self.history)

    @property
    def active_bullets(self) -> list[Bullet]:
        return [b for b in self.bullets if b.active]

    @property
    def message_count(self) -> int:
        """Messages received (kept in the history or compacted out of it)."""
        return len(self.history) + self.trimmed

    def view(self) -> CaseView:
        return CaseView(self.case_id, self.metadata, tuple(self.history), tuple(self.active_bullets), self.covered,
                        dict(self.redaction) if self.redaction else None)

    def bullet(self, bullet_id: str) -> Bullet | None:
        return next((b for b in self.bullets if b.bullet_id == bullet_id), None)

    def message_index(self, message_id: str) -> int | None:
        # Newest first: redeliveries and results almost always concern recent messages.
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i].message_id == message_id:
                return i
        return None

    def set_redaction(self, redaction: dict[str, Any] | None) -> bool:
        """Store a redactor's state unless it knows fewer placeholders than the stored one
        (counts only grow: a stale replay or an older call must not roll the numbering back)."""
        if not redaction:
            return False
        if _redaction_total(redaction) < _redaction_total(self.redaction):
            return False
        self.redaction = dict(redaction)
        return True

    def _key(self, text: str) -> str:
        key = self._norm.get(text)
        if key is None:
            if len(self._norm) > 4096:
                self._norm.clear()
            key = self._norm[text] = normalize(text)
        return key

    # -- transitions ---------------------------------------------------------------------
    def set_metadata(self, metadata: CaseMetadata) -> None:
        self.metadata = metadata

    def add_message(self, message: Message, received_ms: int, max_history: int = 400) -> bool:
        """Append a message; False when it is a redelivery of one already received."""
        if self.message_index(message.message_id) is not None:
            return False
        if self.trimmed_ids and short_hash(message.message_id) in self.trimmed_ids:
            return False
        self.history.append(message)
        self.received_ms.append(received_ms)
        self._hist_bytes += _message_bytes(message)
        self._compact_history(max_history)
        return True

    def _compact_history(self, max_history: int = 400) -> None:
        limit = max(max_history, KEEP_CASE_START + 1)
        while len(self.history) > limit or self._hist_bytes > self.history_budget:
            if self.covered > KEEP_CASE_START:
                victim = KEEP_CASE_START  # the oldest covered message after the case start
                self.covered -= 1
            elif (self._hist_bytes > self.history_budget * UNCOVERED_FACTOR
                  and len(self.history) > KEEP_CASE_START + 1):
                # The backlog alone is over budget: drop its oldest message (the newest stay).
                victim = max(KEEP_CASE_START, self.covered)
                self.overflowed += 1
            else:
                break  # uncovered messages wait for the engine (up to UNCOVERED_FACTOR x budget)
            m = self.history.pop(victim)
            del self.received_ms[victim]
            self._hist_bytes -= _message_bytes(m)
            self.trimmed += 1
            self.trimmed_ids.append(short_hash(m.message_id))
        if len(self.trimmed_ids) > REMEMBERED_TRIMMED_IDS:
            del self.trimmed_ids[:-REMEMBERED_TRIMMED_IDS]

    def _compact_bullets(self) -> None:
        if self._bullet_bytes <= self.bullet_budget:
            return
        keep_start = KEEP_BULLETS_START
        # Deleted bullets go first (nothing shows them), then the oldest after the case start.
        order = [i for i, b in enumerate(self.bullets) if not b.active and i >= keep_start]
        order += [i for i, b in enumerate(self.bullets) if b.active and i >= keep_start]
        drop: set[int] = set()
        budget_left = self._bullet_bytes
        for i in order:
            if budget_left <= self.bullet_budget * 0.9 or len(self.bullets) - len(drop) <= keep_start + 1:
                break
            drop.add(i)
            budget_left -= _bullet_bytes(self.bullets[i])
        kept = []
        for i, b in enumerate(self.bullets):
            if i in drop:
                self.archived_keys.append(short_hash(self._key(b.text)))
                self.archived += 1 if b.active else 0
            else:
                kept.append(b)
        self.bullets = kept
        self._bullet_bytes = budget_left
        if len(self.archived_keys) > REMEMBERED_ARCHIVED:
            del self.archived_keys[:-REMEMBERED_ARCHIVED]

    def _prefix_refs(self, result: NoteResult) -> tuple[int, list[int]]:
        """(below, without): the prefix is the stored bullets with seq < below not in without."""
        ctx = result.context
        if "prefix_seqs" in ctx:
            seqs = set(ctx["prefix_seqs"])
        elif "prefix" in ctx:
            texts = set(ctx["prefix"])
            seqs = {b.seq for b in self.bullets if b.text in texts}
        else:
            seqs = {b.seq for b in self.bullets if b.active}
        below = self.next_seq
        return below, [b.seq for b in self.bullets if b.seq < below and b.seq not in seqs]

    def apply_result(self, result: NoteResult, now_ms: int) -> list[NoteChange]:
        """Accept the kept proposals of a note result and mark its messages covered.

        Stale results (their messages are already covered, e.g. a redelivery after a restart)
        change nothing, which is what keeps bullet ids unique across replays.
        """
        idx = self.message_index(result.last_message_id)
        if idx is None or idx < self.covered:
            return []
        self.set_redaction(result.redaction)
        upto = idx + 1
        latencies = [max(0.0, float(now_ms - r)) for r in self.received_ms[self.covered:upto]]
        self.latencies_ms = (self.latencies_ms + latencies)[-REMEMBERED_LATENCIES:]
        latency = latencies[-1] if latencies else None
        first_new = self.history[self.covered].message_id
        self.covered = upto
        self.proposed += len(result.proposals)
        self.dropped += len(result.dropped)
        kept = result.kept
        if not kept:
            self._compact_history()
            return []

        seen = {self._key(b.text) for b in self.bullets}  # deleted ones too: never re-add them
        archived = set(self.archived_keys)
        below, without = self._prefix_refs(result)
        ids = result.context.get("message_ids") or []
        new_from = result.context.get("new_from") or (ids[0] if ids else first_new)
        changes = []
        for p in kept:
            key = normalize(p.text)
            if not key or key in seen or (archived and short_hash(key) in archived):
                continue
            seen.add(key)
            bullet = Bullet(
                bullet_id=bullet_id_for(self.case_id, self.next_seq), seq=self.next_seq, text=p.text.strip(),
                source="model", label=p.label, keep_prob=p.keep_prob, engine=result.engine,
                model_version=result.model_version, trigger_message_id=result.last_message_id,
                context={"new_from": new_from, "prefix_below": below, "prefix_without": without},
            )
            self.next_seq += 1
            self.kept += 1
            self.bullets.append(bullet)
            self._bullet_bytes += _bullet_bytes(bullet)
            changes.append(NoteChange(bullet, "added", latency))
        self._compact_history()
        self._compact_bullets()
        return changes

    def apply_edit(self, edit: dict[str, Any], redact: str = "off", keep_originals: bool = False) -> EditApplied | None:
        """Apply an agent edit (an AgentEdit record). None when the edit was already applied.

        ``redact`` (``CASENOTES_REDACT``): with ``engine+log`` the log record's texts and
        generation context are redacted with the case's numbering (the bullet itself keeps what
        the agent typed; engines see it redacted anyway)."""
        edit_id, action = edit["edit_id"], edit["action"]
        if edit_id in self.applied_edits:
            return None
        text = (edit.get("text") or "").strip()
        if action == "add":
            if not text:
                raise EditError("an 'add' edit needs non-empty text")
            below = self.next_seq
            bullet = Bullet(bullet_id_for(self.case_id, self.next_seq), self.next_seq, text, source="agent",
                            edited=True, engine="agent", trigger_message_id=self._last_message_id(),
                            context={"prefix_below": below,
                                     "prefix_without": [b.seq for b in self.bullets if not b.active]})
            self.next_seq += 1
            self.bullets.append(bullet)
            self._bullet_bytes += _bullet_bytes(bullet)
            before, status = None, "added"
        else:
            bullet_id = edit.get("bullet_id")
            bullet = self.bullet(bullet_id) if bullet_id else None
            if bullet is None:
                if bullet_id and self._is_archived(bullet_id):
                    raise EditError(f"bullet {bullet_id!r} is archived (case {self.case_id!r} is over its "
                                    "notes budget); it can no longer be edited")
                raise EditError(f"unknown bullet {bullet_id!r} for case {self.case_id!r}")
            if not bullet.active:
                raise EditError(f"bullet {bullet_id!r} is already deleted")
            before = bullet.text
            if action == "edit":
                if not text:
                    raise EditError("an 'edit' needs non-empty text (use action 'delete' to remove a bullet)")
                self._bullet_bytes += _text_bytes(text) - _text_bytes(bullet.text)
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
        if redact != "off":
            from casenotes import redact as redaction

            if redaction.redacts_log(redact):
                r = redaction.Redactor.from_dict(self.redaction, keep_originals)
                record = redaction.redact_log_record(record, r)
                self.redaction = r.to_dict()
        self._compact_bullets()
        return EditApplied(NoteChange(bullet, status), record)

    def _is_archived(self, bullet_id: str) -> bool:
        prefix = f"{self.case_id}:"
        if not bullet_id.startswith(prefix):
            return False
        try:
            seq = int(bullet_id[len(prefix):])
        except ValueError:
            return False
        return 0 < seq < self.next_seq

    def prefix_texts(self, bullet: Bullet) -> list[str]:
        """The texts (as of now) of the bullets that formed ``bullet``'s prompt prefix."""
        ctx = bullet.context
        if "prefix" in ctx:  # records written before prefixes became references
            return list(ctx["prefix"])
        below = ctx.get("prefix_below", bullet.seq)
        without = set(ctx.get("prefix_without", ()))
        return [b.text for b in self.bullets if b.seq < below and b.seq not in without]

    def generation_context(self, bullet: Bullet) -> dict[str, Any]:
        """The inputs that produced ``bullet``: metadata, history up to its trigger, the prefix."""
        idx = self.message_index(bullet.trigger_message_id) if bullet.trigger_message_id else None
        history = self.history[: idx + 1] if idx is not None else list(self.history)
        ctx = bullet.context
        if "message_ids" in ctx:
            new_ids = list(ctx["message_ids"])
        elif idx is not None and ctx.get("new_from"):
            start = self.message_index(ctx["new_from"])
            new_ids = [m.message_id for m in self.history[(start if start is not None else idx):idx + 1]]
        else:
            new_ids = []
        return {
            "metadata": self.metadata.to_dict(),
            "history": [m.to_dict() for m in history],
            "prefix_bullets": self.prefix_texts(bullet),
            "new_message_ids": new_ids,
            "engine": bullet.engine, "model_version": bullet.model_version,
            "history_trimmed": self.trimmed,
            "prefix_archived": self.archived,
        }

    def _last_message_id(self) -> str | None:
        return self.history[-1].message_id if self.history else None

    # -- persistence (JSON-compatible dicts for the table) --------------------------------
    def to_dict(self, history: bool = True) -> dict[str, Any]:
        d = {
            "case_id": self.case_id, "metadata": self.metadata.to_dict(),
            **({"history": [dict(vars(m)) for m in self.history]} if history else {}),
            "received_ms": list(self.received_ms),
            "bullets": [_bullet_dict(b) for b in self.bullets], "covered": self.covered,
            "next_seq": self.next_seq, "trimmed": self.trimmed, "applied_edits": list(self.applied_edits),
            "latencies_ms": list(self.latencies_ms), "proposed": self.proposed, "kept": self.kept,
            "dropped": self.dropped,
        }
        for name in ("overflowed", "archived", "archived_keys", "trimmed_ids"):
            value = getattr(self, name)
            if value:
                d[name] = list(value) if isinstance(value, list) else value
        if self.redaction:
            d["redaction"] = self.redaction
        return d

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
            overflowed=d.get("overflowed", 0), archived=d.get("archived", 0),
            archived_keys=list(d.get("archived_keys", [])), trimmed_ids=list(d.get("trimmed_ids", [])),
            redaction=dict(d.get("redaction") or {}),
        )

    def to_bytes(self, limit: int = MAX_RECORD_BYTES) -> bytes:
        """The record as compact UTF-8 JSON, guaranteed ``<= limit`` bytes.

        Budgets keep ordinary records far below the limit; for inputs that defeat the estimates
        (huge metadata, many escaped characters, giant texts) the state is compacted harder,
        step by step, before giving up with ``StateTooLarge`` (then nothing was changed).
        """
        data = self._encode()
        if len(data) <= limit:
            return data
        backup = self.to_dict()
        try:
            for step in _shrink_steps(self):
                step()
                data = self._encode()
                if len(data) <= limit:
                    return data
        finally:
            self.history_budget, self.bullet_budget = HISTORY_BUDGET_BYTES, BULLET_BUDGET_BYTES
        restored = CaseState.from_dict(backup)
        self.__dict__.update(restored.__dict__)
        raise StateTooLarge(f"case {self.case_id[:80]!r}: record is {len(data)} bytes even fully compacted "
                            f"(limit {limit})")

    def _encode(self) -> bytes:
        """``to_dict()`` as compact JSON, with each message's JSON encoded once and reused:
        the history is most of a long case's record and it is saved on every change."""
        head = json.dumps(self.to_dict(history=False), ensure_ascii=False, separators=(",", ":"))
        text = f'{head[:-1]},"history":[{",".join(_message_json(m) for m in self.history)}]}}'
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: let JSON escape them
            return _dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes | str | dict[str, Any]) -> "CaseState":
        if isinstance(data, dict):
            return cls.from_dict(data)
        return cls.from_dict(json.loads(data))


def _redaction_total(redaction: dict[str, Any] | None) -> int:
    return sum((redaction or {}).get("counts", {}).values())


def _bullet_dict(b: Bullet) -> dict[str, Any]:
    # dataclasses.asdict deep-copies field by field: 60x slower, and this runs on every save.
    d = dict(vars(b))
    d["context"] = {k: list(v) if isinstance(v, list) else v for k, v in b.context.items()}
    return d


@per_text()
def _message_json(m: Message) -> str:
    return json.dumps(vars(m), ensure_ascii=False, separators=(",", ":"))


def _dumps(d: dict[str, Any]) -> bytes:
    text = json.dumps(d, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let JSON escape them
        return json.dumps(d, separators=(",", ":")).encode("ascii")


_TRUNCATED = " …[truncated]"


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + _TRUNCATED


def _shrink_steps(s: CaseState) -> Iterable[Any]:
    """Ever harder compactions for ``to_bytes``; each is a closure over the state."""
    def budgets(factor: float) -> Any:
        def step() -> None:
            s.history_budget = int(HISTORY_BUDGET_BYTES * factor)
            s.bullet_budget = int(BULLET_BUDGET_BYTES * factor)
            s._hist_bytes = sum(_message_bytes(m) for m in s.history)
            s._compact_history()
            s._compact_bullets()
        return step

    def truncate_texts() -> None:
        s.history = [Message(**{**m.to_dict(), "text": _truncate(m.text, 2000)}) for m in s.history]
        for b in s.bullets:
            b.text = _truncate(b.text, 1000)
        s.metadata = CaseMetadata(*({k[:200]: _truncate(v, 500) for k, v in list(part.items())[:64]}
                                    for part in (s.metadata.customer, s.metadata.agent, s.metadata.attributes)))

    def forget_memories() -> None:
        s.applied_edits = s.applied_edits[-16:]
        s.archived_keys = s.archived_keys[-256:]
        s.trimmed_ids = s.trimmed_ids[-64:]
        s.latencies_ms = s.latencies_ms[-16:]

    return [budgets(0.5), budgets(0.25), truncate_texts, forget_memories, budgets(0.05), budgets(0.0)]
