"""``casenotes eval judge-agreement GOLD.jsonl``: how often does the judge agree with labelled notes?

Gold records (one JSON object a line):

    {"id": "...", "language"?: "en", "conversation": [{"role": "customer"|"agent"|"system", "text": "..."}],
     "notes": ["...", ...], "labels": {"issue": true, "commitment": null, ..., "fake_digit": false}}

``null`` means not applicable (commitment/solution the conversation does not have). For every
criterion the positive class is ``true`` (present for completeness, error flagged for
truthfulness) and the figures are accuracy, precision, recall, F1 and support over the records
whose gold label is not null. A judge ``null`` where the gold label is true/false counts as
``false`` (it said "nothing to find") and as an applicability disagreement; unusable verdicts
(``error`` set) are left out of every figure and counted. Undefined ratios (no predicted or no
gold positives) are None, printed "-".
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from casenotes.eval.datasets import DatasetError, Dialogue, dialogue_from_turns
from casenotes.eval.judge import CRITERIA, OPTIONAL, Judge, JudgeVerdict, aggregate


@dataclass(frozen=True)
class GoldRecord:
    id: str
    dialogue: Dialogue
    notes: tuple[str, ...]
    labels: dict[str, bool | None]


def load_gold(path: Path) -> list[GoldRecord]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc})") from None
        labels = d.get("labels") or {}
        missing = [c for c in CRITERIA if c not in labels]
        if missing or not isinstance(d.get("notes"), list) or "id" not in d:
            raise DatasetError(f"{where}: needs id, conversation, notes and labels for {', '.join(missing or CRITERIA)}")
        bad = [c for c in CRITERIA if labels[c] is None and c not in OPTIONAL or labels[c] not in (True, False, None)]
        if bad:
            raise DatasetError(f"{where}: labels {', '.join(bad)} must be true or false")
        dialogue = dialogue_from_turns(str(d["id"]), d.get("conversation") or [], language=d.get("language") or "en")
        out.append(GoldRecord(str(d["id"]), dialogue, tuple(d["notes"]), {c: labels[c] for c in CRITERIA}))
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def criterion_metrics(pairs: Sequence[tuple[bool | None, bool | None]]) -> dict[str, Any]:
    """(gold, predicted) pairs of one criterion -> confusion counts and the usual figures."""
    tp = fp = fn = tn = na = 0
    for gold, pred in pairs:
        if (gold is None) != (pred is None):
            na += 1
        if gold is None:
            continue
        pred = bool(pred)
        tp += gold and pred
        fp += (not gold) and pred
        fn += gold and not pred
        tn += (not gold) and not pred
    support = tp + fp + fn + tn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # = 2PR/(P+R); 0 when one side has positives the other misses
    return {"accuracy": _ratio(tp + tn, support), "precision": precision, "recall": recall, "f1": f1,
            "support": support, "positives": tp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "na_disagreements": na}


def compute_agreement(gold: Sequence[GoldRecord], verdicts: Sequence[JudgeVerdict]) -> dict[str, Any]:
    usable = [(g, v) for g, v in zip(gold, verdicts) if v.ok]
    criteria = {c: criterion_metrics([(g.labels[c], v.criteria[c].value) for g, v in usable]) for c in CRITERIA}
    f1s = [m["f1"] for m in criteria.values() if m["f1"] is not None]
    mae: dict[str, float | None] = {}
    for i, name in enumerate(("completeness", "truthfulness", "overall")):
        diffs = [abs(aggregate(g.labels)[i] - getattr(v, name)) for g, v in usable
                 if aggregate(g.labels)[i] is not None and getattr(v, name) is not None]
        mae[name] = sum(diffs) / len(diffs) if diffs else None
    return {"records": len(gold), "judged": len(usable), "errors": len(gold) - len(usable),
            "criteria": criteria, "macro_f1": sum(f1s) / len(f1s) if f1s else None, "score_mae": mae,
            "items": [{"id": g.id, "labels": g.labels, "verdict": v.to_dict()} for g, v in zip(gold, verdicts)]}


async def run_agreement(gold_path: Path, judge: Judge, concurrency: int = 4) -> dict[str, Any]:
    """Judge every gold record and compare. Raises EngineError if the judge cannot be reached."""
    gold = load_gold(gold_path)
    limit = asyncio.Semaphore(concurrency)

    async def one(g: GoldRecord) -> JudgeVerdict:
        async with limit:
            return await judge.judge(g.dialogue, g.notes)

    verdicts = await asyncio.gather(*(one(g) for g in gold))
    result = compute_agreement(gold, verdicts)
    result.update(gold=str(gold_path), judge=judge.description)
    return result


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_agreement(result: Mapping[str, Any]) -> str:
    head = f"{'criterion':<16} {'accuracy':>8} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>7} {'pos':>4} {'n/a diff':>8}"
    lines = [f"judge agreement: {result.get('judge', '?')}",
             f"gold: {result.get('gold', '?')}: {result['records']} records, {result['judged']} judged, "
             f"{result['errors']} unusable verdicts", "", head, "-" * len(head)]
    for name, m in result["criteria"].items():
        lines.append(f"{name:<16} {_fmt(m['accuracy']):>8} {_fmt(m['precision']):>9} {_fmt(m['recall']):>7} "
                     f"{_fmt(m['f1']):>6} {m['support']:>7} {m['positives']:>4} {m['na_disagreements']:>8}")
    mae = result["score_mae"]
    lines += ["", f"macro F1 (criteria with a defined F1): {_fmt(result['macro_f1'])}",
              "mean absolute error of the case scores vs gold: "
              + ", ".join(f"{k} {_fmt(v)}" for k, v in mae.items())]
    return "\n".join(lines)
