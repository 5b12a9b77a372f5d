"""The note-taking domain: messages, bullets and the per-case view engines work from.

Plain dataclasses with dict round-trips; nothing here knows about Kafka or Faust, so the
offline tools (take-notes, evaluation, training-data builders) use exactly the same types.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Channel = Literal["chat", "call", "email"]
Role = Literal["customer", "agent", "system"]
BulletSource = Literal["model", "agent"]
BulletStatus = Literal["active", "deleted"]

CHANNELS: tuple[str, ...] = ("chat", "call", "email")
ROLES: tuple[str, ...] = ("customer", "agent", "system")

#: The relevance classes. In production the classifier is a binary filter: keep the first
#: five, drop ``other`` (greetings, acknowledgements, redundancy).
LABELS: tuple[str, ...] = (
    "customer_provides_issue",
    "customer_provides_context",
    "customer_takes_action",
    "agent_asks_follow_up",
    "agent_provides_solution",
    "other",
)
KEEP_LABELS = frozenset(LABELS[:-1])


@dataclass(frozen=True)
class Message:
    """One turn of the conversation: a chat message, a call-transcript segment or an email."""

    message_id: str
    channel: str
    role: str
    text: str
    ts: str  # ISO-8601, as sent by the upstream system
    agent_id: str | None = None
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Message":
        return cls(
            message_id=str(d["message_id"]),
            channel=d["channel"],
            role=d["role"],
            text=d["text"],
            ts=d["ts"],
            agent_id=d.get("agent_id"),
            language=d.get("language"),
        )


@dataclass(frozen=True)
class CaseMetadata:
    """Profiles and attributes that frame the case (all free-form string maps)."""

    customer: dict[str, str] = field(default_factory=dict)
    agent: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "CaseMetadata":
        d = d or {}
        as_str = lambda m: {str(k): str(v) for k, v in (m or {}).items()}  # noqa: E731
        return cls(as_str(d.get("customer")), as_str(d.get("agent")), as_str(d.get("attributes")))


@dataclass
class Bullet:
    """An accepted note bullet. ``seq`` is its position in the case; ids are ``<case>:<seq>``."""

    bullet_id: str
    seq: int
    text: str
    source: str = "model"  # model | agent
    status: str = "active"  # active | deleted
    version: int = 1  # bumps on every agent edit
    edited: bool = False  # True once an agent changed it: generation never touches it again
    label: str | None = None
    keep_prob: float | None = None
    engine: str = ""
    model_version: str = ""
    trigger_message_id: str | None = None
    #: What produced the bullet: the message ids it was generated from and the texts of the
    #: bullets that formed the prompt prefix. Logged with agent edits for preference data.
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Bullet":
        return cls(**d)


def bullet_id_for(case_id: str, seq: int) -> str:
    """Deterministic id: a replay of the same events yields the same ids, never duplicates."""
    return f"{case_id}:{seq:04d}"


@dataclass(frozen=True)
class CaseView:
    """What an engine sees: everything about the case up to now, read-only.

    ``covered`` is how many messages of ``history`` earlier notes already took into account;
    ``history[covered:]`` are the new messages the engine should look at.
    """

    case_id: str
    metadata: CaseMetadata
    history: tuple[Message, ...]
    bullets: tuple[Bullet, ...]  # active bullets, in order, agent edits included
    covered: int = 0
    #: The case's redaction numbering (``casenotes.redact.Redactor.to_dict()``), None before the
    #: first redaction: the note-taker redacts the view with it and returns the updated state
    #: on ``NoteResult.redaction`` so placeholders stay stable across calls.
    redaction: dict[str, Any] | None = None

    @property
    def new_messages(self) -> tuple[Message, ...]:
        return self.history[self.covered:]

    @property
    def language(self) -> str | None:
        """The conversation's language: the most recent message that declares one."""
        for m in reversed(self.history):
            if m.language:
                return m.language
        return None


@dataclass(frozen=True)
class Relevance:
    """The classifier's verdict on one proposed bullet."""

    label: str
    keep: bool
    keep_prob: float
    probs: dict[str, float] = field(default_factory=dict)
