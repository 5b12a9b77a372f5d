"""Topic declarations. All case topics are keyed by case id and co-partitioned.

Values are Avro (see ``schemas/``), encoded and decoded by the worker itself so that a payload
that does not decode can be routed to the dead-letter topic with the reason instead of
crashing the stream. Upstream producers must partition by case id with the murmur2 hash
(the Java client default; ``partitioner=murmur2_random`` in librdkafka clients).
"""
from __future__ import annotations

from casenotes.processors.app import app, settings

_raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
            partitions=settings.topic_partitions)

conversation_topic_name = settings.topic("conversation-events")
metadata_topic_name = settings.topic("case-metadata")
edits_topic_name = settings.topic("agent-edits")

#: Conversation events, metadata and agent edits are read by ONE agent, so that all the state
#: changes of a case happen in order on one partition. Note results written back by the
#: engine tasks join the same stream (they are internal, JSON).
results_topic = app.topic(settings.topic("note-results"), **_raw)  # created by ensure_topics
case_input_topic = app.topic(conversation_topic_name, metadata_topic_name, edits_topic_name,
                             results_topic.get_topic_name(), **_raw)

notes_topic = app.topic(settings.topic("notes"), **_raw)
dead_letter_topic = app.topic(settings.topic("dead-letters"), **_raw)
