"""Turn an LLM answer into new bullet texts, rejecting echoes, refusals and junk (counted)."""
from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from casenotes.state import normalize

#: A bullet longer than this is a run-on (the model lost the list format), not a note.
MAX_BULLET_CHARS = 400
MIN_BULLET_CHARS = 3

_MARKER = re.compile(r"^\s*(?:[-*•‣▪–]|\d{1,3}[.)])\s+")
_REFUSAL = re.compile(
    r"^(?:i'?m sorry|i am sorry|sorry,? (?:but )?i (?:can(?:no|')t|am unable)|i can(?:no|')t (?:help|assist|do)|"
    r"i (?:am|'m) (?:unable|not able)|as an ai\b|as a language model|"
    r"no new (?:information|notes?|facts?|bullets?)|nothing (?:new|to (?:add|note))|"
    r"n/?a|none|no(?:ne)? new\b|rien de nouveau|aucune? (?:nouvelle|information)|nada nuevo|"
    r"ninguna? (?:nueva|información))", re.IGNORECASE)
_MARKUP = re.compile(r"^(?:#{1,6}\s|```|<\/?[a-zA-Z][^>]*>|\[\.\.\.)|^[\W_]+$")
_HEADERISH = re.compile(r"^(?:new )?notes?\s*:?$|^(?:here are|voici|aquí (?:están|tienes))\b.*:$", re.IGNORECASE)


@dataclass
class ParseResult:
    bullets: list[str] = field(default_factory=list)
    #: One reason per rejected line: echo, duplicate, refusal, markup, run_on, too_short.
    rejected: list[str] = field(default_factory=list)

    @property
    def rejected_counts(self) -> Counter:
        return Counter(self.rejected)


def strip_echo(answer: str, prompt_text: str) -> str:
    """Servers may return prompt + completion (TensorRT-LLM with ``exclude_input_in_output``
    false): keep only what follows the prompt."""
    if prompt_text and answer.startswith(prompt_text):
        return answer[len(prompt_text):]
    # Some servers strip trailing whitespace of the prompt before echoing it.
    stripped = prompt_text.rstrip()
    if stripped and answer.startswith(stripped):
        return answer[len(stripped):]
    return answer


def parse_bullets(answer: str, existing: Iterable[str] = ()) -> ParseResult:
    """New bullet texts from ``answer``; ``existing`` are the bullets already in the notes (the
    prompt prefix): the model repeating them is an echo, not news."""
    result = ParseResult()
    existing_keys = {normalize(t) for t in existing}
    seen: set[str] = set()
    text = html.unescape(answer or "")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        body = _MARKER.sub("", line, count=1).strip()
        if _HEADERISH.match(body):
            continue  # "Notes:" / "Here are the new notes:" is framing, not content
        reason = _reject_reason(body)
        if reason is None:
            key = normalize(body)
            if key in existing_keys:
                reason = "echo"
            elif key in seen:
                reason = "duplicate"
            else:
                seen.add(key)
                result.bullets.append(body)
                continue
        result.rejected.append(reason)
    return result


def _reject_reason(body: str) -> str | None:
    if _REFUSAL.match(body):
        return "refusal"
    if _MARKUP.match(body):
        return "markup"
    if len(body) > MAX_BULLET_CHARS:
        return "run_on"
    if len(normalize(body)) < MIN_BULLET_CHARS:
        return "too_short"
    return None
