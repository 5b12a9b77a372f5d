"""Train the salience model from TweetSumm's per-sentence human labels (reproducible, ~1 min).

    python -m casenotes.engines.extractive.salience_train ../shared/data/tweetsumm/train.jsonl \\
        [--out engines/extractive/salience.json]

Each dialogue runs through the engine as the worker runs it (normalised view, substance gate,
one call per message) with no salience selection; every candidate note is matched to the
TweetSumm sentence it comes from, whose target is the share of annotators who selected it.
The fit is a soft-label logistic regression with L2 (numpy, full batch, deterministic); content
words need ``--min-count`` occurrences to get a weight. Only weights are written, never text.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import numpy as np

from casenotes.engines.extractive.engine import ExtractiveEngine
from casenotes.engines.extractive.lexicon import lexicon_for
from casenotes.engines.extractive.salience import WEIGHTS, SalienceModel, features
from casenotes.engines.normalize import normalize_message
from casenotes.model import Bullet, CaseView

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _label(sentence: str, turns: list[dict], idx: int, role: str, annotators: int) -> float | None:
    """Share of annotators who selected the TweetSumm sentence ``sentence`` comes from."""
    mine = _words(sentence)
    if not mine:
        return None
    best, label = 0.0, None
    for t in turns[idx: idx + 3]:  # a turn may have been merged with the same speaker's next ones
        if t["role"] != role:
            break
        for s in t.get("sentences", []):
            overlap = len(mine & _words(normalize_message(s["text"], role))) / len(mine)
            if overlap > best:
                best, label = overlap, min(1.0, s["selected_by"] / max(1, annotators))
    return label if best >= 0.5 else None


def examples(records: list[dict], engine: ExtractiveEngine | None = None) -> list[tuple[list[str], float]]:
    """(features, target) for every candidate note the engine proposes over the dialogues."""
    from casenotes.eval.datasets import dialogue_from_turns
    from casenotes.notetaker import has_substance, normalized_view

    engine = engine or ExtractiveEngine(salience=None)
    lex = lexicon_for("en")
    out = []
    for d in records:
        turns = [t for t in d["turns"] if (t.get("text") or "").strip()]
        case = dialogue_from_turns(d["dialog_id"], turns).case
        annotators = d["annotators"] if isinstance(d["annotators"], int) else len(d["annotators"])
        bullets: list[Bullet] = []
        for i in range(1, len(case.events) + 1):
            view = normalized_view(CaseView(case.case_id, case.metadata, case.events[:i], tuple(bullets), i - 1))
            if not has_substance(view.new_messages, view.history) and not engine.holds_back(view):
                continue
            for cand, note in engine.scored_notes(view):
                bullets.append(Bullet(f"b{len(bullets)}", len(bullets), note))
                y = _label(cand.sentence, turns, cand.first, cand.role, annotators)
                if y is not None:
                    out.append((features(cand, view.history, lex), y))
    return out


def fit(data: list[tuple[list[str], float]], min_count: int = 8, l2: float = 5.0, steps: int = 400) -> dict[str, float]:
    counts = Counter(f for feats, _ in data for f in set(feats))
    vocab = sorted(f for f, c in counts.items() if c >= min_count or not f.startswith("w="))
    index = {f: i for i, f in enumerate(vocab)}
    rows = [[index[f] for f in feats if f in index] for feats, _ in data]
    x = np.zeros((len(data), len(vocab)), dtype=np.float32)
    for r, cols in enumerate(rows):
        x[r, cols] = 1.0
    y = np.array([t for _, t in data], dtype=np.float32)
    w = np.zeros(len(vocab), dtype=np.float64)
    reg = np.full(len(vocab), l2 / len(data))
    reg[index["bias"]] = 0.0
    # Newton's method on the (convex) soft-label log loss: a few exact, deterministic steps.
    for _ in range(min(steps, 30)):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) / len(data) + reg * w
        hess = (x.T * (p * (1 - p))) @ x / len(data) + np.diag(reg + 1e-6)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return {f: float(w[i]) for f, i in index.items()}


def main(argv: list[str] | None = None) -> None:
    import json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", type=Path, help="TweetSumm train.jsonl (never the test split)")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--min-count", type=int, default=8)
    ap.add_argument("--l2", type=float, default=5.0)  # 1, 5, 20 compared by two-fold cross-fit on train
    args = ap.parse_args(argv)
    records = [json.loads(line) for line in args.train.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = examples(records)
    weights = fit(data, args.min_count, args.l2)
    model = SalienceModel(weights, version=f"salience-tweetsumm-{len(records)}d")
    model.save(args.out, {"trained_on": args.train.name, "examples": len(data), "min_count": args.min_count, "l2": args.l2})
    print(f"{len(data)} examples from {len(records)} dialogues, {len(weights)} features -> {args.out}")


if __name__ == "__main__":
    main()
