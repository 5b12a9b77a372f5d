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


#: Where the per-message cost of one long case is sampled (message index -> window of messages).
LENGTH_MARKS = (10, 100, 1000, 2000, 5000)
WINDOW = 50


async def cost_by_case_length(n_messages: int = max(LENGTH_MARKS)) -> None:
    """Per-message cost of the worker's steps (state update, engine + classifier, result apply,
    record encoding) as one case grows to ``n_messages``: it must not grow with the case
    (issue 10; the state is bounded by bytes, the prompt/engine see a bounded history)."""
    from casenotes.state import CaseState
    from casenotes.testing import synthetic_case

    settings = Settings.from_env()
    notetaker = NoteTaker.from_settings(settings)
    await notetaker.start()
    case = synthetic_case("bench-long", n_messages)
    state = CaseState(case.case_id, case.metadata)
    samples: dict[int, list[float]] = {m: [] for m in LENGTH_MARKS}
    record_kb: dict[int, float] = {}
    for i, message in enumerate(case.events, 1):
        t = time.perf_counter()
        state.add_message(message, 0)
        result = await notetaker.take_notes(state.view())
        state.apply_result(result, 0)
        record = state.to_bytes()
        took = (time.perf_counter() - t) * 1e3
        for mark in LENGTH_MARKS:
            if mark - WINDOW < i <= mark:
                samples[mark].append(took)
                record_kb[mark] = len(record) / 1024
    await notetaker.close()
    print(f"\ncost per message by case length (one {n_messages}-message case, {WINDOW} messages per window; "
          f"state update + note-taking + apply + record encoding)")
    for mark in LENGTH_MARKS:
        xs = samples[mark]
        print(f"  messages {max(1, mark - WINDOW + 1):>5}-{mark:<5} p50 {pct(xs, .5):6.2f} ms  p95 {pct(xs, .95):6.2f} ms  "
              f"state record {record_kb[mark]:6.1f} KB")


if __name__ == "__main__":
    asyncio.run(main())
    asyncio.run(cost_by_case_length())
