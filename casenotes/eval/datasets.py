"""Evaluation datasets: every loader yields ``Dialogue`` records (one small interface).

A dataset is named on the command line as ``KIND:PATH``:

    cases:DIR_OR_FILE[,FILE...]   the project's case files (no references: reference-free metrics only)
    samples:                      the bundled sample cases
    tweetsumm:FILE.jsonl          TweetSumm (real customer-care chats, ~3 human summaries each)
    dialogsum:FILE.jsonl          DialogSum (everyday dialogues, one human summary)
    jsonl:FILE.jsonl              generic: {"id", "turns": [{"role", "text"}], "references": [...], "language"?}

Social-media artefacts (@handles, URLs, signatures) stay in the text, as in real traffic.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from casenotes.casefile import CaseFile, load_case, load_samples
from casenotes.model import CaseMetadata, Message

_T0 = datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc)


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Dialogue:
    """One conversation to take notes on, with the human summaries it is judged against."""

    id: str
    case: CaseFile
    references: tuple[str, ...] = ()
    language: str = "en"
    #: Per-turn extras, e.g. TweetSumm's sentence salience: [{"text", "selected_by"}] per turn.
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def turns(self) -> tuple[Message, ...]:
        return self.case.events

    def conversation_text(self, tagged: bool = True) -> str:
        """The conversation as plain text, one turn a line (``Customer: ...`` when tagged)."""
        return "\n".join(f"{m.role.capitalize()}: {m.text}" if tagged else m.text for m in self.turns)


def dialogue_from_turns(dialogue_id: str, turns: Sequence[dict[str, Any]], references: Iterable[str] = (),
                        language: str = "en", channel: str = "chat", meta: dict[str, Any] | None = None,
                        gap_s: int = 30) -> Dialogue:
    """Build a dialogue (and its case file) from ``[{"role", "text"}]`` turns."""
    events = []
    for i, t in enumerate(turns):
        role = str(t.get("role", "")).lower()
        if role not in ("customer", "agent", "system"):
            raise DatasetError(f"{dialogue_id}: turn {i}: role must be customer, agent or system, got {role!r}")
        text = str(t.get("text") or "").strip()
        if not text:
            continue
        ts = t.get("ts") or (_T0 + timedelta(seconds=gap_s * i)).isoformat()
        events.append(Message(message_id=f"m{i + 1:03d}", channel=t.get("channel") or channel, role=role,
                              text=text, ts=ts, agent_id="agent" if role == "agent" else None, language=language))
    if not events:
        raise DatasetError(f"{dialogue_id}: no turns with text")
    case = CaseFile(dialogue_id, CaseMetadata(), tuple(events))
    return Dialogue(dialogue_id, case, tuple(r for r in references if r and r.strip()), language, meta or {})


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{n}: not valid JSON ({exc})") from None


def load_tweetsumm(path: Path) -> list[Dialogue]:
    out = []
    for d in _jsonl(path):
        turns = [{"role": t["role"], "text": t["text"]} for t in d["turns"]]
        meta = {"salience": [t.get("sentences", []) for t in d["turns"]], "split": d.get("split")}
        out.append(dialogue_from_turns(d["dialog_id"], turns, d.get("summaries", []), "en", meta=meta))
    return out


_PERSON = re.compile(r"^#Person(\d)#:\s*(.*)$")


def load_dialogsum(path: Path) -> list[Dialogue]:
    """DialogSum has two speakers and no roles: #Person1# (who opens) plays 'agent', #Person2#
    'customer', which is how the note-taker attributes points. References name them #Person1#/#2#."""
    out = []
    for d in _jsonl(path):
        turns = []
        for line in d["dialogue"].splitlines():
            m = _PERSON.match(line.strip())
            if m:
                turns.append({"role": "agent" if m.group(1) == "1" else "customer", "text": m.group(2)})
            elif turns and line.strip():
                turns[-1]["text"] += " " + line.strip()
        refs = [d[k] for k in ("summary", "summary1", "summary2", "summary3") if d.get(k)]
        out.append(dialogue_from_turns(d["fname"], turns, refs, "en", meta={"topic": d.get("topic")}))
    return out


def load_generic(path: Path) -> list[Dialogue]:
    out = []
    for n, d in enumerate(_jsonl(path), 1):
        if "id" not in d or not isinstance(d.get("turns"), list):
            raise DatasetError(f"{path}:{n}: a record needs 'id' and a 'turns' list")
        out.append(dialogue_from_turns(str(d["id"]), d["turns"], d.get("references") or [],
                                       d.get("language") or "en"))
    return out


def _case_dialogue(case: CaseFile) -> Dialogue:
    langs = [m.language for m in case.events if m.language]
    return Dialogue(case.case_id, case, (), langs[-1] if langs else "en")


def load_cases(spec: str) -> list[Dialogue]:
    paths: list[Path] = []
    for part in filter(None, spec.split(",")):
        p = Path(part)
        paths.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    if not paths:
        raise DatasetError(f"cases:{spec}: no case files found")
    return [_case_dialogue(load_case(p)) for p in paths]


LOADERS: dict[str, Callable[[str], list[Dialogue]]] = {
    "tweetsumm": lambda p: load_tweetsumm(Path(p)),
    "dialogsum": lambda p: load_dialogsum(Path(p)),
    "jsonl": lambda p: load_generic(Path(p)),
    "cases": load_cases,
    "samples": lambda _p: [_case_dialogue(c) for c in load_samples()],
}


def load_dataset(spec: str, limit: int | None = None) -> tuple[str, list[Dialogue]]:
    """``KIND:PATH`` -> (kind, dialogues). A bare path to a directory or .json file means ``cases:``."""
    kind, sep, path = spec.partition(":")
    if not sep:
        kind, path = "cases", spec
    if kind not in LOADERS:
        raise DatasetError(f"unknown dataset kind {kind!r} in {spec!r}: use one of {', '.join(LOADERS)}")
    if kind != "samples" and not path:
        raise DatasetError(f"{spec!r}: give a path after '{kind}:'")
    if kind in ("tweetsumm", "dialogsum", "jsonl") and not Path(path).is_file():
        raise DatasetError(f"{spec!r}: {path} is not a file")
    dialogues = LOADERS[kind](path)
    return kind, dialogues[:limit] if limit else dialogues
