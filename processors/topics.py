"""The topic registry: every topic the worker reads or writes, its schema and role, in one place.

All case topics are keyed by case id and co-partitioned. Values are Avro (see ``schemas/``),
decoded by the worker itself so that a payload that does not decode goes to the dead-letter
topic with the reason instead of crashing the stream. Upstream producers must partition by case
id with the murmur2 hash (the Java client default; ``partitioner=murmur2_random`` in librdkafka).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casenotes.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str  # without the prefix
    schema: str  # Avro schema name in schemas/
    role: str  # input | output
    event: str = ""  # input topics: which handler method takes the decoded record


#: One registry for the worker, the broker admin, replay and tests.
TOPICS: dict[str, TopicSpec] = {t.name: t for t in (
    TopicSpec("conversation-events", "conversation_event", "input", "message"),
    TopicSpec("case-metadata", "case_metadata", "input", "metadata"),
    TopicSpec("agent-edits", "agent_edit", "input", "edit"),
    TopicSpec("notes", "case_note", "output"),
    TopicSpec("dead-letters", "dead_letter", "output"),
)}
INPUT_TOPICS = tuple(n for n, t in TOPICS.items() if t.role == "input")
#: Created by ``ensure_topics`` with the configured partitions (the case-keyed ones co-partitioned).
CASE_TOPICS = (*INPUT_TOPICS, "notes")
DEAD_LETTER_TOPIC = "dead-letters"


class Topics:
    """The Faust topic objects of one app, and the routing from a full topic name to its spec."""

    def __init__(self, app: Any, settings: Settings) -> None:
        raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                   partitions=settings.topic_partitions)
        self.by_name = {settings.topic(n): spec for n, spec in TOPICS.items()}
        self.names = {n: settings.topic(n) for n in TOPICS}
        #: Conversation events, metadata and agent edits are read by ONE agent, so that all the
        #: state changes of a case happen in order on one partition.
        self.case_input = app.topic(*(self.names[n] for n in INPUT_TOPICS), **raw)
        self.notes = app.topic(self.names["notes"], **raw)
        self.dead_letters = app.topic(self.names[DEAD_LETTER_TOPIC], **raw)

    def spec(self, full_name: str) -> TopicSpec | None:
        return self.by_name.get(full_name)
