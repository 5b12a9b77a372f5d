"""The JSON case file format used for replay, the offline commands and tests.

    {"case_id": "...", "metadata": {"customer": {...}, "agent": {...}, "attributes": {...}},
     "events": [{"message_id", "channel", "role", "agent_id"?, "text", "ts", "language"?}]}
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from casenotes.model import CHANNELS, ROLES, CaseMetadata, Message


class CaseFileError(ValueError):
    pass


@dataclass(frozen=True)
class CaseFile:
    case_id: str
    metadata: CaseMetadata
    events: tuple[Message, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "metadata": self.metadata.to_dict(),
                "events": [m.to_dict() for m in self.events]}


def parse_case(data: dict[str, Any], origin: str = "<case>") -> CaseFile:
    if not isinstance(data, dict) or not data.get("case_id"):
        raise CaseFileError(f"{origin}: missing case_id")
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise CaseFileError(f"{origin}: 'events' must be a non-empty list")
    seen: set[str] = set()
    messages = []
    for i, e in enumerate(events):
        where = f"{origin}: events[{i}]"
        for key in ("message_id", "channel", "role", "text", "ts"):
            if key not in e or e[key] in (None, ""):
                raise CaseFileError(f"{where}: missing {key}")
        if e["channel"] not in CHANNELS:
            raise CaseFileError(f"{where}: channel must be one of {CHANNELS}, got {e['channel']!r}")
        if e["role"] not in ROLES:
            raise CaseFileError(f"{where}: role must be one of {ROLES}, got {e['role']!r}")
        try:
            datetime.fromisoformat(str(e["ts"]).replace("Z", "+00:00"))
        except ValueError:
            raise CaseFileError(f"{where}: ts {e['ts']!r} is not ISO-8601") from None
        if str(e["message_id"]) in seen:
            raise CaseFileError(f"{where}: duplicate message_id {e['message_id']!r}")
        seen.add(str(e["message_id"]))
        messages.append(Message.from_dict(e))
    return CaseFile(str(data["case_id"]), CaseMetadata.from_dict(data.get("metadata")), tuple(messages))


def load_case(path: str | Path) -> CaseFile:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CaseFileError(f"{path}: not valid JSON ({exc})") from None
    return parse_case(data, str(path))


def sample_case_paths() -> list[Path]:
    """The project-authored sample cases bundled with the package."""
    root = resources.files("casenotes.samples")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".json"))


def load_samples() -> list[CaseFile]:
    return [load_case(p) for p in sample_case_paths()]
