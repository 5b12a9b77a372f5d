"""Validate the labelled relevance data and split it 80/10/10, stratified by (label, lang).

Reads ``data/relevance/raw/*.jsonl``, rejects malformed items with a clear message, drops exact
and normalised duplicates (case, accents, punctuation and spacing folded: near-identical
bullets must not straddle train and test), then splits each (label, lang) stratum with a fixed
seed. Writes ``{train,validation,test}.jsonl`` and ``manifest.json`` (counts, sha256).

    python -m casenotes.engines.relevance.split [--raw DIR] [--out DIR] [--seed N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from casenotes.model import LABELS

LANGS = ("en", "fr", "es")
SPLITS = ("train", "validation", "test")
FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 13
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_RAW = REPO_ROOT / "data" / "relevance" / "raw"
DEFAULT_OUT = REPO_ROOT / "data" / "relevance" / "splits"


class DataError(ValueError):
    """A raw item is malformed (bad JSON, unknown label or language, empty text)."""


def normalise(text: str) -> str:
    """Fold case, accents, punctuation and whitespace so trivially different copies collide."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def validate(item: object, where: str) -> dict:
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(item).__name__}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: 'text' must be a non-empty string")
    if item.get("label") not in LABELS:
        raise DataError(f"{where}: label {item.get('label')!r} is not one of {', '.join(LABELS)}")
    if item.get("lang") not in LANGS:
        raise DataError(f"{where}: lang {item.get('lang')!r} is not one of {', '.join(LANGS)}")
    return {**item, "text": text.strip()}


def read_raw(paths: Iterable[Path]) -> list[dict]:
    items: list[dict] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: invalid JSON ({e.msg})") from None
                items.append(validate(obj, f"{path}:{n}"))
    return items


@dataclass
class DedupStats:
    exact: int = 0
    normalised: int = 0
    conflicting_labels: list[str] = field(default_factory=list)


def deduplicate(items: list[dict]) -> tuple[list[dict], DedupStats]:
    """Keep the first occurrence of each text. A normalised duplicate with a different label is
    dropped too (first wins) and listed, so the data writers can fix the disagreement."""
    stats = DedupStats()
    seen_exact: set[str] = set()
    seen_norm: dict[str, str] = {}
    kept = []
    for it in items:
        if it["text"] in seen_exact:
            stats.exact += 1
            continue
        seen_exact.add(it["text"])
        key = normalise(it["text"])
        if key in seen_norm:
            stats.normalised += 1
            if seen_norm[key] != it["label"]:
                stats.conflicting_labels.append(it["text"])
            continue
        seen_norm[key] = it["label"]
        kept.append(it)
    return kept, stats


def stratified_split(items: list[dict], seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    """80/10/10 within every (label, lang) stratum; order inside a split is shuffled too."""
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for it in items:
        strata[(it["label"], it["lang"])].append(it)
    rng = random.Random(seed)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda it: it["text"])  # independent of file order
        rng.shuffle(group)
        n = len(group)
        n_val = round(n * FRACTIONS[1])
        n_test = round(n * FRACTIONS[2])
        out["test"].extend(group[:n_test])
        out["validation"].extend(group[n_test:n_test + n_val])
        out["train"].extend(group[n_test + n_val:])
    for s in SPLITS:
        rng.shuffle(out[s])
    return out


def _dump(items: list[dict]) -> bytes:
    return "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items).encode("utf-8")


def write_splits(splits: dict[str, list[dict]], out_dir: Path, stats: DedupStats, n_raw: int,
                 sources: list[Path], seed: int) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "seed": seed,
        "fractions": dict(zip(SPLITS, FRACTIONS)),
        "sources": [p.name for p in sources],
        "raw_items": n_raw,
        "dropped_exact_duplicates": stats.exact,
        "dropped_normalised_duplicates": stats.normalised,
        "conflicting_label_duplicates": len(stats.conflicting_labels),
        "splits": {},
    }
    for s in SPLITS:
        blob = _dump(splits[s])
        (out_dir / f"{s}.jsonl").write_bytes(blob)
        manifest["splits"][s] = {
            "items": len(splits[s]),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "by_label": dict(sorted(Counter(it["label"] for it in splits[s]).items())),
            "by_lang": dict(sorted(Counter(it["lang"] for it in splits[s]).items())),
        }
    # One hash for the whole data set: model cards cite it.
    manifest["data_sha256"] = hashlib.sha256(
        "".join(manifest["splits"][s]["sha256"] for s in SPLITS).encode()).hexdigest()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_splits(raw_dir: Path = DEFAULT_RAW, out_dir: Path = DEFAULT_OUT, seed: int = DEFAULT_SEED) -> dict:
    sources = sorted(Path(raw_dir).glob("*.jsonl"))
    if not sources:
        raise DataError(f"no *.jsonl files in {raw_dir}")
    raw = read_raw(sources)
    kept, stats = deduplicate(raw)
    splits = stratified_split(kept, seed)
    return write_splits(splits, Path(out_dir), stats, len(raw), sources, seed)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = ap.parse_args(argv)
    m = build_splits(a.raw, a.out, a.seed)
    print(f"{m['raw_items']} raw items; dropped {m['dropped_exact_duplicates']} exact and "
          f"{m['dropped_normalised_duplicates']} normalised duplicates "
          f"({m['conflicting_label_duplicates']} with a conflicting label)")
    for s in SPLITS:
        print(f"  {s:<10} {m['splits'][s]['items']:>6}  {m['splits'][s]['by_lang']}")


if __name__ == "__main__":
    main()
