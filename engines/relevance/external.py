"""Evaluate the classifier on an external, blind set: real customer-care tweets, labelled by hand.

The labels (``data/relevance/external/twitter-care.labels.jsonl``) name tweets of the shared
development data by id and carry no text: the text is read from ``../shared/data/twitter-care``
at evaluation time (the data stays where its licence puts it). The set was labelled without
looking at the training data or the model, so it measures how the model carries over to
real, noisy utterances — English only, so it complements, not replaces, the EN/FR/ES test split.

    python -m casenotes.engines.relevance.external [MODEL_DIR] [--source FILE] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path


from casenotes.engines.relevance.evaluate import REPO_ROOT, evaluate_items, write_report

DEFAULT_LABELS = REPO_ROOT / "data" / "relevance" / "external" / "twitter-care.labels.jsonl"
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "twitter-care" / "dev.json"
DEFAULT_OUT = REPO_ROOT / "reports" / "relevance" / "external-twitter-care"

_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+|https?: //\S+")


def clean_tweet(text: str) -> str:
    """Drop @handles and links (the addressing of a tweet, not its content), fold whitespace."""
    return " ".join(_URL.sub(" ", _MENTION.sub(" ", text)).split())


def load_items(labels: Path | str = DEFAULT_LABELS, source: Path | str = DEFAULT_SOURCE) -> list[dict]:
    """Join the labels with the tweets' text; a label that does not resolve is an error."""
    conversations = json.loads(Path(source).read_text(encoding="utf-8"))
    items = []
    for n, line in enumerate(Path(labels).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        lab = json.loads(line)
        try:
            turn = conversations[lab["doc_id"]]["dialogContent"][lab["turn"]]
        except (IndexError, KeyError) as e:
            raise ValueError(f"{labels}:{n}: no turn {lab.get('doc_id')}/{lab.get('turn')} in {source}") from e
        if str(turn.get("tweet_ID")) != str(lab["tweet_id"]):
            raise ValueError(f"{labels}:{n}: tweet {lab['tweet_id']} is not turn {lab['doc_id']}/{lab['turn']}")
        items.append({**lab, "text": clean_tweet(turn["message"])})
    return items


def keep_everything_f1(items: list[dict]) -> float:
    """Binary F1 of the trivial filter that keeps every bullet: the floor a model must beat."""
    keep = sum(it["label"] != "other" for it in items)
    return 2 * keep / (keep + len(items)) if items else 0.0


def evaluate_external(model_dir: Path | str, labels: Path | str = DEFAULT_LABELS,
                      source: Path | str = DEFAULT_SOURCE, out_dir: Path | str = DEFAULT_OUT,
                      threshold: float = 0.5) -> dict:
    items = load_items(labels, source)
    metrics = evaluate_items(model_dir, items, threshold)
    by_role = dict(Counter(it["role"] for it in items))
    extra = {"source": "twitter-care dev (IBM, Apache-2.0), tweets cleaned of @handles and links",
             "keep_everything_binary_f1": round(keep_everything_f1(items), 3), "items_by_role": by_role}
    write_report(metrics, out_dir, f"{Path(model_dir).name} on twitter-care (external, blind)", extra)
    return metrics | extra


def main(argv: list[str] | None = None) -> None:
    from casenotes.engines.relevance.onnx_classifier import BUNDLED_MODEL_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path, nargs="?", default=BUNDLED_MODEL_DIR)
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args(argv)
    if not a.source.exists():
        raise SystemExit(f"{a.source} not found: the external set needs the shared development data")
    m = evaluate_external(a.model_dir, a.labels, a.source, a.out, a.threshold)
    print(f"{m['n']} tweets: macro F1 {m['macro_f1']:.3f}  binary F1 {m['binary_f1']:.3f} "
          f"(keep-everything {m['keep_everything_binary_f1']:.3f})  F1 other {m['per_class']['other']['f1']:.3f}"
          f"  -> {a.out}/report.md")


if __name__ == "__main__":
    main()
