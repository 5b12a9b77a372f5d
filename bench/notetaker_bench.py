"""Note-taking throughput and latency, offline (no broker): every sample case replayed message by
message through the configured engine and classifier, as the worker would call them.

    python bench/notetaker_bench.py            # extractive engine + bundled ONNX classifier
    CASENOTES_CLASSIFIER=passthrough python bench/notetaker_bench.py
"""
from __future__ import annotations

import asyncio
import statistics
import time

from casenotes.casefile import load_samples
from casenotes.notetaker import NoteTaker
from casenotes.offline import take_notes_progressively
from casenotes.settings import Settings


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def main(rounds: int = 5) -> None:
    settings = Settings.from_env()
    notetaker = NoteTaker.from_settings(settings)
    await notetaker.start()
    cases = load_samples()
    per_message, engine_ms, classifier_ms = [], [], []
    kept = dropped = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for case in cases:
            t = time.perf_counter()
            async for step in take_notes_progressively(case, notetaker):
                per_message.append((time.perf_counter() - t) * 1e3)
                if not step.result.skipped:
                    engine_ms.append(step.result.engine_ms)
                    if step.result.proposals:
                        classifier_ms.append(step.result.classifier_ms)
                kept += len(step.added)
                dropped += len(step.result.dropped)
                t = time.perf_counter()
    elapsed = time.perf_counter() - t0
    await notetaker.close()
    n = len(per_message)
    print(f"engine={notetaker.engine.name} classifier={notetaker.classifier.name} "
          f"({notetaker.classifier.model_version}); {len(cases)} cases x {rounds} rounds")
    print(f"messages {n}  throughput {n / elapsed:,.0f} msg/s  bullets kept {kept // rounds} dropped {dropped // rounds} per round")
    print(f"per message  p50 {pct(per_message, .5):.2f} ms  p95 {pct(per_message, .95):.2f} ms")
    print(f"engine       p50 {pct(engine_ms, .5):.2f} ms  p95 {pct(engine_ms, .95):.2f} ms")
    if classifier_ms:
        print(f"classifier   p50 {pct(classifier_ms, .5):.2f} ms  p95 {pct(classifier_ms, .95):.2f} ms "
              f"(mean {statistics.fmean(classifier_ms):.2f} ms per call)")


if __name__ == "__main__":
    asyncio.run(main())
