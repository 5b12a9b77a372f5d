"""Case views shared by the LLM engine tests (imported by name: a conftest cannot be)."""
from __future__ import annotations

from casenotes.model import Bullet, CaseMetadata, CaseView, Message

#: Seconds ensemble_slow sleeps (the session's dev_triton fixture, in tests/conftest.py, starts it so).
SLOW_S = 3.0


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
