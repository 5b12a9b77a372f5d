"""Relevance classifier latency/throughput: ``make bench`` runs it.

p50/p95 latency of one bullet (batch 1) and items/s at batch 32, through onnxruntime with 2
intra-op threads on CPU, then the same on CUDAExecutionProvider when onnxruntime-gpu can use a
GPU. Also the served path (``OnnxRelevanceClassifier.classify`` with its micro-batcher).

    python bench/relevance_bench.py [--model DIR] [--runs N]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import numpy as np

from casenotes.engines.relevance.onnx_classifier import BUNDLED_MODEL_DIR, OnnxModel, OnnxRelevanceClassifier

BULLETS = [
    "Customer was charged twice for order 5512 and wants a refund.",
    "Agent asked for the booking reference.",
    "ok thanks, have a nice day",
    "Le client a redémarré le routeur mais le voyant reste rouge.",
    "El agente emitió un reembolso de 45 €, 5 a 7 días hábiles.",
    "Guest says the room was not cleaned on arrival at 11pm after a 14-hour flight from Tokyo.",
    "Agent placed the customer on hold.",
    "Caller has the premium plan since March and pays by direct debit.",
]


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def bench_model(model: OnnxModel, runs: int) -> dict:
    model.probs(BULLETS)  # warm up
    lat = []
    for i in range(runs):
        t = time.perf_counter()
        model.probs([BULLETS[i % len(BULLETS)]])
        lat.append((time.perf_counter() - t) * 1000)
    batch = [BULLETS[i % len(BULLETS)] for i in range(32)]
    n_batches = max(3, runs // 20)
    t = time.perf_counter()
    for _ in range(n_batches):
        model.probs(batch, batch_size=32)
    thr = 32 * n_batches / (time.perf_counter() - t)
    return {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "batch32_items_per_s": thr}


async def bench_served(model_dir: Path, providers: list[str], runs: int) -> dict:
    clf = OnnxRelevanceClassifier(model_dir, providers=providers, threads=2)
    await clf.start()
    lat = []
    for i in range(runs):
        t = time.perf_counter()
        await clf.classify([BULLETS[i % len(BULLETS)]])
        lat.append((time.perf_counter() - t) * 1000)
    # 32 concurrent cases with one bullet each: the micro-batcher merges them.
    t = time.perf_counter()
    rounds = max(3, runs // 20)
    for _ in range(rounds):
        await asyncio.gather(*(clf.classify([BULLETS[i % len(BULLETS)]]) for i in range(32)))
    thr = 32 * rounds / (time.perf_counter() - t)
    await clf.close()
    return {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "concurrent32_items_per_s": thr,
            "provider": clf.provider}


def report(title: str, r: dict) -> None:
    extra = ", ".join(f"{k} {v:.0f}" for k, v in r.items() if k.endswith("items_per_s"))
    print(f"{title:<44} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  {extra}"
          + (f"  [{r['provider']}]" if "provider" in r else ""))


def main(argv: list[str] | None = None) -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=BUNDLED_MODEL_DIR)
    ap.add_argument("--runs", type=int, default=300)
    a = ap.parse_args(argv)
    print(f"model {a.model}  onnxruntime {ort.__version__}")
    cpu = OnnxModel(a.model, ["CPUExecutionProvider"], threads=2)
    report("CPU, 2 threads, session", bench_model(cpu, a.runs))
    report("CPU, 2 threads, served (micro-batcher)", asyncio.run(bench_served(a.model, ["CPUExecutionProvider"], a.runs)))
    gpu = OnnxModel(a.model, ["CUDAExecutionProvider", "CPUExecutionProvider"], threads=2) \
        if "CUDAExecutionProvider" in ort.get_available_providers() else None
    if gpu is None or gpu.providers[0] != "CUDAExecutionProvider":
        print("CUDA not available")
    else:
        report("CUDA, session", bench_model(gpu, a.runs))
        report("CUDA, served (micro-batcher)",
               asyncio.run(bench_served(a.model, ["CUDAExecutionProvider", "CPUExecutionProvider"], a.runs)))


if __name__ == "__main__":
    main()
