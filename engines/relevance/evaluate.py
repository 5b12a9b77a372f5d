"""Evaluate a relevance model directory on labelled JSON lines (default: the test split).

Per-class precision/recall/F1, macro and micro F1, binary keep/drop F1 (keep = not ``other``,
the decision production makes), ROC AUC (macro one-vs-rest and binary), a per-language
breakdown, all next to the reference DeBERTa system. Writes ``report.md``, ``metrics.json``
and ``confusion_matrix.png``.

    python -m casenotes.engines.relevance.evaluate [MODEL_DIR] [--data FILE] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from casenotes.model import LABELS

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA = REPO_ROOT / "data" / "relevance" / "splits" / "test.jsonl"
DEFAULT_OUT = REPO_ROOT / "reports" / "relevance"

#: The DeBERTa system we replace, on its own test split (GPU served, p50 20 ms / p95 40 ms).
REFERENCE = {
    "roc_auc_macro": 0.96, "macro_f1": 0.801, "micro_f1": 0.845, "binary_f1": 0.895,
    "per_class_f1": {"agent_asks_follow_up": 0.850, "agent_provides_solution": 0.858,
                     "customer_provides_context": 0.659, "customer_provides_issue": 0.820,
                     "customer_takes_action": 0.726, "other": 0.895},
}
#: What the default model must reach on a held-out EN/FR/ES set.
ACCEPTANCE = {"binary_f1": 0.93, "macro_f1": 0.80, "f1_other": 0.85}


def compute_metrics(y_true: Sequence[int], probs: np.ndarray, threshold: float = 0.5,
                    labels: Sequence[str] = LABELS) -> dict:
    """Metrics from integer labels and class probabilities (rows sum to 1). The binary task is
    keep (any class but ``other``) vs drop, decided by ``1 - P(other) >= threshold``."""
    from sklearn.metrics import (confusion_matrix, f1_score, precision_recall_fscore_support,
                                 roc_auc_score)

    y = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(y), len(labels)):
        raise ValueError(f"probs shape {probs.shape} does not match {len(y)} items x {len(labels)} classes")
    k = list(range(len(labels)))
    pred = probs.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=k, zero_division=0)
    other = list(labels).index("other")
    keep_true = (y != other).astype(int)
    keep_prob = 1.0 - probs[:, other]
    keep_pred = (keep_prob >= threshold).astype(int)
    present = [c for c in k if (y == c).any()]
    out = {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "macro_f1": float(f1_score(y, pred, labels=k, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y, pred, labels=k, average="micro", zero_division=0)),
        "binary_f1": float(f1_score(keep_true, keep_pred, zero_division=0)),
        "per_class": {labels[c]: {"precision": float(p[c]), "recall": float(r[c]), "f1": float(f[c]), "support": int(s[c])}
                      for c in k},
        "confusion_matrix": confusion_matrix(y, pred, labels=k).tolist(),
        "threshold": threshold,
    }
    # AUC is undefined unless every class (both keep and drop) occurs.
    if len(present) == len(k):
        out["roc_auc_macro"] = float(roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=k))
    if 0 < keep_true.sum() < len(y):
        out["roc_auc_binary"] = float(roc_auc_score(keep_true, keep_prob))
    return out


def evaluate_items(model_dir: Path | str, items: list[dict], threshold: float = 0.5) -> dict:
    from casenotes.engines.relevance.onnx_classifier import OnnxModel

    model = OnnxModel(model_dir, threads=2)
    label_id = {c: i for i, c in enumerate(model.labels)}
    probs = model.probs([it["text"] for it in items])
    y = np.array([label_id[it["label"]] for it in items])
    metrics = compute_metrics(y, probs, threshold, model.labels)
    metrics["by_language"] = {}
    for lang in sorted({it.get("lang", "?") for it in items}):
        idx = np.array([i for i, it in enumerate(items) if it.get("lang", "?") == lang])
        m = compute_metrics(y[idx], probs[idx], threshold, model.labels)
        metrics["by_language"][lang] = {k: m[k] for k in ("n", "accuracy", "macro_f1", "micro_f1", "binary_f1")
                                        } | {"f1_other": m["per_class"]["other"]["f1"]}
    return metrics


def plot_confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    short = [lb.replace("customer_", "cust_").replace("agent_", "agent_").replace("provides_", "") for lb in labels]
    ax.set_xticks(range(len(labels)), short, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), short)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _row(name: str, ours: float | None, ref: float | None) -> str:
    f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    delta = "" if ours is None or ref is None else f"{ours - ref:+.3f}"
    return f"| {name} | {f(ours)} | {f(ref)} | {delta} |"


def write_report(metrics: dict, out_dir: Path | str, title: str, extra: dict | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({**metrics, "reference": REFERENCE, "acceptance": ACCEPTANCE,
                                                  **(extra or {})}, indent=2) + "\n")
    labels = list(metrics["per_class"])
    plot_confusion(metrics["confusion_matrix"], labels, out / "confusion_matrix.png", title)
    acc = {"binary_f1": metrics["binary_f1"], "macro_f1": metrics["macro_f1"],
           "f1_other": metrics["per_class"]["other"]["f1"]}
    lines = [f"# Relevance classifier evaluation: {title}", "",
             f"{metrics['n']} items, keep threshold {metrics['threshold']}.", "",
             "| metric | ours | reference (DeBERTa) | Δ |", "|---|---|---|---|",
             _row("ROC AUC, macro one-vs-rest", metrics.get("roc_auc_macro"), REFERENCE["roc_auc_macro"]),
             _row("ROC AUC, binary keep/drop", metrics.get("roc_auc_binary"), None),
             _row("macro F1", metrics["macro_f1"], REFERENCE["macro_f1"]),
             _row("micro F1", metrics["micro_f1"], REFERENCE["micro_f1"]),
             _row("binary keep/drop F1", metrics["binary_f1"], REFERENCE["binary_f1"]), "",
             "| class | precision | recall | F1 | reference F1 | support |", "|---|---|---|---|---|---|"]
    for c, m in metrics["per_class"].items():
        ref = REFERENCE["per_class_f1"].get(c)
        lines.append(f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     f"{'–' if ref is None else f'{ref:.3f}'} | {m['support']} |")
    lines += ["", "Acceptance thresholds (they apply to an independent held-out EN/FR/ES set; shown here "
              "for orientation): " + ", ".join(
        f"{k} {acc[k]:.3f} {'≥' if acc[k] >= v else '<'} {v} {'PASS' if acc[k] >= v else 'FAIL'}"
        for k, v in ACCEPTANCE.items()), ""]
    if metrics.get("by_language"):
        lines += ["| language | n | accuracy | macro F1 | micro F1 | binary F1 | F1 other |", "|---|---|---|---|---|---|---|"]
        for lang, m in metrics["by_language"].items():
            lines.append(f"| {lang} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['micro_f1']:.3f} | "
                         f"{m['binary_f1']:.3f} | {m['f1_other']:.3f} |")
    lines += ["", "Note: the reference figures are from a different test set (the DeBERTa system's own); "
              "compare them as orders of magnitude, not as a paired test.", "",
              "![confusion matrix](confusion_matrix.png)", ""]
    for k, v in (extra or {}).items():
        if k == "int8_vs_fp32_validation" and v:
            v = (f"macro F1 {v['fp32']['macro_f1']:.3f} (fp32) -> {v['final']['macro_f1']:.3f} (int8), accuracy "
                 f"{v['fp32']['accuracy']:.3f} -> {v['final']['accuracy']:.3f}, {v['prediction_agreement']:.1%} "
                 f"identical predictions on {v['items']} validation items")
        lines.append(f"- {k}: {v}")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"


def drop_seen(items: list[dict], splits_dir: Path = DEFAULT_DATA.parent) -> tuple[list[dict], int]:
    """Items whose normalised text is not in the training splits (for external sets)."""
    from casenotes.engines.relevance.split import SPLITS, normalise
    from casenotes.engines.relevance.train import load_jsonl

    seen = {normalise(it["text"]) for name in SPLITS for it in load_jsonl(splits_dir / f"{name}.jsonl")}
    kept = [it for it in items if normalise(it["text"]) not in seen]
    return kept, len(items) - len(kept)


def evaluate(model_dir: Path | str, data: Path | str = DEFAULT_DATA, out_dir: Path | str = DEFAULT_OUT,
             threshold: float = 0.5, extra: dict | None = None, exclude_seen: bool = False) -> dict:
    from casenotes.engines.relevance.train import load_jsonl

    items = load_jsonl(data)
    if exclude_seen:
        items, dropped = drop_seen(items)
        extra = {**(extra or {}), "items_also_in_training_data_excluded": dropped}
    if not items:
        raise ValueError(f"{data}: no items")
    metrics = evaluate_items(model_dir, items, threshold)
    write_report(metrics, out_dir, f"{Path(model_dir).name} on {Path(data).name}", extra)
    return metrics


def main(argv: list[str] | None = None) -> None:
    from casenotes.engines.relevance.onnx_classifier import BUNDLED_MODEL_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path, nargs="?", default=BUNDLED_MODEL_DIR)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--exclude-seen", action="store_true",
                    help="leave out items whose text is also in the training splits (external sets)")
    a = ap.parse_args(argv)
    m = evaluate(a.model_dir, a.data, a.out, a.threshold, exclude_seen=a.exclude_seen)
    print(f"macro F1 {m['macro_f1']:.3f}  micro F1 {m['micro_f1']:.3f}  binary F1 {m['binary_f1']:.3f}  "
          f"AUC {m.get('roc_auc_macro', float('nan')):.3f}  -> {a.out}/report.md")


if __name__ == "__main__":
    main()
