"""Fixtures of the LLM engine tests: a real dev Triton server for the session, case views."""
from __future__ import annotations

import os

import pytest

from casenotes.engines.llm.devserver import DevTritonProcess
from casenotes.model import Bullet, CaseMetadata, CaseView, Message

#: Seconds ensemble_slow sleeps; tests use timeouts well below it.
SLOW_S = 3.0


@pytest.fixture(scope="session")
def dev_triton(tmp_path_factory):
    """The dev server (``ensemble``, ``ensemble_stream``, ``ensemble_slow``, ``ensemble_malformed``)
    on free ports, shared by the session: starting it costs ~10 s."""
    pytest.importorskip("pytriton", reason="the dev Triton server needs: pip install 'casenotes[triton-dev]'")
    os.environ.setdefault("PYTRITON_HOME", str(tmp_path_factory.mktemp("pytriton")))
    server = DevTritonProcess(str(tmp_path_factory.mktemp("triton") / "triton.log"), test_models=True, slow_s=SLOW_S)
    server.start()
    yield server
    server.stop()


def msg(i: int, role: str, text: str, channel: str = "chat", language: str | None = "en", agent_id: str | None = None) -> Message:
    return Message(message_id=f"m{i}", channel=channel, role=role, text=text, ts=f"2024-03-01T10:{i:02d}:00Z",
                   agent_id=agent_id or ("a-17" if role == "agent" else None), language=language)


def bullet(seq: int, text: str, edited: bool = False, status: str = "active") -> Bullet:
    return Bullet(bullet_id=f"c1:{seq:04d}", seq=seq, text=text, edited=edited, status=status,
                  source="agent" if edited else "model")


def view(messages, bullets=(), covered: int = 0, case_id: str = "c1", metadata: CaseMetadata | None = None) -> CaseView:
    return CaseView(case_id=case_id, metadata=metadata or CaseMetadata(), history=tuple(messages),
                    bullets=tuple(bullets), covered=covered)


OPENING = [
    msg(0, "customer", "Hello, my parcel for order A-99812 never arrived and I was charged $84.50 on 12 March."),
    msg(1, "agent", "I can see that order A-99812 was marked delivered by the carrier on 14 March."),
]
FOLLOW_UP = [
    msg(2, "customer", "I was at home all day, nobody rang. I want a refund to my Visa card ending 4417.", channel="call"),
    msg(3, "agent", "I have opened carrier claim CL-5531 and will refund $84.50 within 5 business days.", channel="email"),
]


@pytest.fixture
def make_view():
    return view
