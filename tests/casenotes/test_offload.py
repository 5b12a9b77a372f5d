"""The extractive engine in child processes (casenotes/offload.py) writes exactly the notes it
writes in the loop, and a dead child is an engine outage, not a lost case."""
from __future__ import annotations

import os
import signal

import pytest

from casenotes.casefile import load_samples
from casenotes.engines.base import EngineUnavailable
from casenotes.notetaker import NoteTaker
from casenotes.offline import take_notes_progressively
from casenotes.offload import EngineProcesses, supports
from casenotes.settings import Settings

pytestmark = pytest.mark.timeout(120)


def _settings(**kw) -> Settings:
    return Settings.from_env(env={}, **{"engine": "extractive", "classifier": "passthrough", **kw})


async def _notes(taker: NoteTaker, case) -> list[tuple]:
    out = []
    async for step in take_notes_progressively(case, taker):
        out.append((step.message.message_id, step.result.skipped,
                    tuple((p.text, p.label, p.keep) for p in step.result.proposals)))
    return out


async def test_notes_in_child_processes_equal_notes_in_the_loop():
    cases = load_samples()[:3]
    in_loop = NoteTaker.from_settings(_settings())
    assert in_loop.offload is None
    offloaded = NoteTaker.from_settings(_settings(engine_processes=1))
    assert isinstance(offloaded.offload, EngineProcesses)
    await offloaded.start()
    try:
        for case in cases:
            expected = await _notes(in_loop, case)
            assert any(proposals for _, _, proposals in expected), "the sample writes notes"
            assert await _notes(offloaded, case) == expected, case.case_id
    finally:
        await offloaded.close()


async def test_redaction_happens_in_the_child_too():
    case = load_samples()[0]
    plain = await _notes(NoteTaker.from_settings(_settings(redact="engine")), case)
    taker = NoteTaker.from_settings(_settings(redact="engine", engine_processes=1))
    await taker.start()
    try:
        assert await _notes(taker, case) == plain
    finally:
        await taker.close()


def test_llm_engines_stay_in_the_loop():
    taker = NoteTaker.from_settings(_settings(engine="openai", openai_model="m", engine_processes=2))
    assert not supports(taker.engine) and taker.offload is None


async def test_a_killed_child_is_an_outage_then_a_fresh_pool_serves():
    case = load_samples()[0]
    taker = NoteTaker.from_settings(_settings(engine_processes=1))
    await taker.start()
    try:
        pids = list(taker.offload._pool._processes)
        os.kill(pids[0], signal.SIGKILL)
        from casenotes.state import CaseState
        state = CaseState(case.case_id, case.metadata)
        for m in case.events[:4]:
            state.add_message(m, 0)
        with pytest.raises(EngineUnavailable):
            await taker.take_notes(state.view())
        result = await taker.take_notes(state.view())  # the retry gets a new pool
        assert result.last_message_id == case.events[3].message_id
    finally:
        await taker.close()
