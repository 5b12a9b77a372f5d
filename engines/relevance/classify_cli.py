"""``casenotes classify FILE.jsonl``: label bullets offline with the configured classifier.

Input lines ``{"text": ...}``; output, in order, one line per input line:
``{"text", "label", "keep", "keep_prob", "probs": {class: p}}``, or ``{"error": "..."}`` for a
line that is not a JSON object with a non-empty string ``text`` (processing continues).
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from casenotes.settings import Settings

BATCH = 64


def _parse(line: str) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return None, "missing or empty 'text' string"
    return text, None


async def _classify_lines(settings: Settings, lines: list[str], out: TextIO) -> int:
    from casenotes.engines.relevance import make_classifier

    clf = make_classifier(settings)
    await clf.start()
    # stderr, so stdout stays pure JSON lines: which model and which onnxruntime provider ran.
    print(f"classifier {clf.name} ({clf.model_version}, provider {getattr(clf, 'provider', 'n/a')})",
          file=sys.stderr)
    try:
        for i in range(0, len(lines), BATCH):
            parsed = [_parse(ln) for ln in lines[i:i + BATCH]]
            texts = [t for t, err in parsed if err is None]
            verdicts = iter(await clf.classify(texts)) if texts else iter(())
            for text, err in parsed:
                if err is not None:
                    rec = {"error": err}
                else:
                    r = next(verdicts)
                    rec = {"text": text, "label": r.label, "keep": r.keep, "keep_prob": round(r.keep_prob, 6),
                           "probs": {k: round(v, 6) for k, v in r.probs.items()}}
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        await clf.close()
    return len(lines)


def classify_file(settings: Settings, inp: TextIO, out: TextIO) -> int:
    """Classify every non-blank line of ``inp`` into ``out``; returns the number of lines written."""
    lines = [ln for ln in inp if ln.strip()]
    return asyncio.run(_classify_lines(settings, lines, out))
