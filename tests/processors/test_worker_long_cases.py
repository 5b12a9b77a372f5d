"""Long cases against a real worker (embedded broker, extractive engine): the worker stays up,
the case's record stays bounded, and the other cases keep getting notes meanwhile.

Before bounded state, a case's record grew quadratically: the worker died at message 357 of an
ordinary chat (changelog record over ~1 MB, MessageSizeTooLargeError), and kept dying on restart.
"""
from __future__ import annotations

import time

import pytest

from casenotes.casefile import load_samples
from casenotes.replay import Publisher
from casenotes.state import MAX_RECORD_BYTES
from casenotes.testing import WorkerProcess, synthetic_case

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def worker(stack_settings, tmp_path):
    w = WorkerProcess(stack_settings, tmp_path / "worker.log")
    yield w
    w.stop()


def run_long_case(settings, worker, long_case, others_timeout):
    """Publish the long case, then small sample cases while it is still being worked on."""
    worker.start()
    pub = Publisher(settings)
    pub.metadata(long_case)
    half = len(long_case.events) // 2
    for m in long_case.events[:half]:
        pub.message(long_case.case_id, m)
    pub.flush()
    others = load_samples()[:3]
    t0 = time.monotonic()
    for c in others:  # small cases land in the middle of the long one
        pub.metadata(c)
        for m in c.events:
            pub.message(c.case_id, m)
    for m in long_case.events[half:]:
        pub.message(long_case.case_id, m)
    pub.flush()
    for c in others:
        info = worker.wait_covered(c.case_id, len(c.events), timeout=others_timeout)
        assert info["bullets"] > 0, f"{c.case_id}: other cases keep getting notes"
    others_done_s = time.monotonic() - t0
    info = worker.wait_covered(long_case.case_id, len(long_case.events), timeout=300)
    assert worker.proc.poll() is None, "the worker stays up"
    assert info["messages"] == len(long_case.events) and not info["pending"]
    assert info["record_bytes"] <= MAX_RECORD_BYTES
    assert "MessageSizeTooLarge" not in worker.log_tail(2000)
    return info, others_done_s


def test_a_1000_message_case(stack_settings, worker):
    info, _ = run_long_case(stack_settings, worker, synthetic_case("long-1000", 1000), others_timeout=120)
    assert info["bullets"] > 10 and info["overflowed"] == 0
    assert info["record_bytes"] < 250_000


def test_160_messages_of_7900_characters(stack_settings, worker):
    info, _ = run_long_case(stack_settings, worker, synthetic_case("long-7900", 160, text_chars=7900),
                            others_timeout=120)
    # A burst of 1.2 MB for one case: the backlog may exceed 4x the history budget, and then its
    # oldest messages are dropped and counted (the record never passes 512 KB).
    assert info["overflowed"] < 160 and info["bullets"] > 0


def test_a_5000_message_case_does_not_starve_the_others(stack_settings, worker):
    info, others_s = run_long_case(stack_settings, worker, synthetic_case("long-5000", 5000), others_timeout=120)
    assert info["record_bytes"] < 400_000
