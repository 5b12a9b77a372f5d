"""Offline note-taking over case files: the same NoteTaker and CaseState transitions as the
worker, message by message, without Kafka (``casenotes take-notes``, evaluation, tests)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import AsyncIterator

from casenotes.casefile import CaseFile
from casenotes.model import CaseView, Message
from casenotes.notetaker import NoteTaker
from casenotes.state import CaseState, NoteChange, NoteResult


@dataclass(frozen=True)
class Step:
    message: Message
    result: NoteResult
    added: list[NoteChange]
    view: CaseView  # what the note-taker was given for this message


async def take_notes_progressively(case: CaseFile, notetaker: NoteTaker) -> AsyncIterator[Step]:
    """Feed the case one message at a time; yield what each message added to the notes."""
    state = CaseState(case.case_id, case.metadata)
    for message in case.events:
        now = int(time.time() * 1000)
        state.add_message(message, now)
        view = state.view()
        result = await notetaker.take_notes(view)
        yield Step(message, result, state.apply_result(result, int(time.time() * 1000)), view)
