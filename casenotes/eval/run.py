"""``casenotes eval run``: dataset x systems -> notes -> per-case metrics -> statistics -> report.

Every per-case score is kept in ``results.json``; ``report.md``/``report.html`` are rebuilt from
it (``casenotes eval report DIR``), so a report never needs the engines or the judge again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from casenotes.eval import textstats
from casenotes.eval.datasets import Dialogue, load_dataset
from casenotes.eval.stats import bootstrap_mean, paired
from casenotes.eval.systems import Components, SystemRun, check_system, make_system, needs_engine
from casenotes.settings import Settings

log = logging.getLogger("casenotes.eval")

#: Metrics summarised in the tables, in display order (absent ones are left out).
SUMMARY_METRICS = (
    "rouge1", "rouge2", "rougeL", "rougeL_max", "bertscore_f1",
    "judge_overall", "judge_completeness", "judge_truthfulness",
    "words", "bullets", "compression", "no_notes", "ungrounded", "handles", "urls", "signatures",
    "engine_calls", "prompt_tokens", "dropped",
)
#: Metrics on which every system is compared with the reference system.
COMPARED_METRICS = ("rougeL", "bertscore_f1", "judge_overall", "words", "prompt_tokens")


@dataclass
class EvalConfig:
    dataset: str
    systems: Sequence[str]
    out: Path
    settings: Settings = field(default_factory=Settings.from_env)
    limit: int | None = None
    judge: str = "none"  # none | openai | triton
    judge_cache: Path | None = None
    bertscore: bool = True
    judge_concurrency: int = 4


def case_metrics(dialogue: Dialogue, run: SystemRun) -> dict[str, float]:
    """Reference-free measures of one system's notes on one dialogue (plus ROUGE when references exist)."""
    from casenotes.eval.rouge import rouge

    note = "\n".join(run.notes)
    conversation = dialogue.conversation_text(tagged=False)
    n_words, conv_words = len(textstats.words(note)), len(textstats.words(conversation))
    leaked = textstats.leaks(note)
    m: dict[str, float] = {
        "words": n_words, "bullets": len(run.notes), "no_notes": float(not run.notes),
        "compression": n_words / conv_words if conv_words else 0.0,
        "ungrounded": len(textstats.ungrounded(note, conversation, dialogue.language)),
        "handles": len(leaked["handles"]), "urls": len(leaked["urls"]), "signatures": len(leaked["signatures"]),
        "engine_calls": run.engine_calls, "prompt_tokens": run.prompt_tokens, "dropped": len(run.dropped),
        "calls_per_message": run.engine_calls / max(1, len(dialogue.turns)),
    }
    if dialogue.references:
        m.update(rouge(note, dialogue.references))
    return m


async def _run_systems(cfg: EvalConfig, dialogues: list[Dialogue]) -> dict[str, list[SystemRun]]:
    from casenotes.engines.factory import make_classifier, make_engine

    parts = None
    if any(needs_engine(s) for s in cfg.systems):
        parts = Components(make_engine(cfg.settings), make_classifier(cfg.settings))
        await parts.engine.start()
        await parts.classifier.start()
    try:
        runs: dict[str, list[SystemRun]] = {}
        for name in cfg.systems:
            system = make_system(name, parts)
            runs[name] = [await system.run(d) for d in tqdm(dialogues, desc=f"{name:>22}", unit="case",
                                                              file=sys.stderr, leave=True)]
        return runs
    finally:
        if parts is not None:
            await parts.engine.close()
            await parts.classifier.close()


def _add_bertscore(cfg: EvalConfig, dialogues: list[Dialogue], runs: dict[str, list[SystemRun]],
                   metrics: dict[str, list[dict[str, float]]]) -> str | None:
    if not cfg.bertscore or not any(d.references for d in dialogues):
        return None
    from casenotes.eval.bertscore import BertScorer, ensure_model

    scorer = BertScorer(ensure_model(cfg.settings.data_path / "models"))
    with_refs = [i for i, d in enumerate(dialogues) if d.references]
    for name, system_runs in tqdm(runs.items(), desc="BERTScore", unit="system", file=sys.stderr):
        cands = ["\n".join(system_runs[i].notes) for i in with_refs]
        scores = scorer.score(cands, [list(dialogues[i].references) for i in with_refs])
        for i, s in zip(with_refs, scores):
            metrics[name][i].update(s)
    return scorer.description


async def _add_judge(cfg: EvalConfig, dialogues: list[Dialogue], runs: dict[str, list[SystemRun]],
                     metrics: dict[str, list[dict[str, float]]]) -> tuple[str | None, dict[str, list[dict]]]:
    from casenotes.engines.base import EngineError
    from casenotes.eval.judge import JudgeVerdict, make_judge

    cache = cfg.judge_cache or cfg.settings.data_path / "judge-cache"
    judge = make_judge(cfg.judge, cfg.settings, cache)
    if judge is None:
        return None, {}
    verdicts: dict[str, list[dict]] = {name: [{} for _ in dialogues] for name in runs}
    limit = asyncio.Semaphore(cfg.judge_concurrency)
    try:
        await judge.start()
    except EngineError as exc:  # the notes and other metrics are still worth a report
        log.error("judge not reachable, judge columns skipped: %s", exc)
        await judge.close()
        return f"skipped: judge not reachable ({exc})", {}
    try:
        # Systems often agree on a dialogue's notes: judge each distinct note set once.
        jobs: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for name in runs:
            for i in range(len(dialogues)):
                jobs.setdefault((i, tuple(runs[name][i].notes)), []).append(name)
        bar = tqdm(total=len(jobs), desc="judge", unit="note set", file=sys.stderr)

        async def one(i: int, notes: tuple[str, ...], names: list[str]) -> None:
            async with limit:
                try:
                    v = await judge.judge(dialogues[i], notes)
                except EngineError as exc:  # unreachable after retries: recorded, the run goes on
                    v = JudgeVerdict(dialogues[i].id, error=f"judge unreachable: {exc}")
            for name in names:
                verdicts[name][i] = v.to_dict()
                if v.error is None:  # completeness is None when nothing was applicable
                    nan = float("nan")
                    metrics[name][i].update({k: nan if x is None else x for k, x in (
                        ("judge_overall", v.overall), ("judge_completeness", v.completeness),
                        ("judge_truthfulness", v.truthfulness))})
                else:
                    metrics[name][i]["judge_errors"] = 1.0
            bar.update()

        await asyncio.gather(*(one(i, notes, names) for (i, notes), names in jobs.items()))
        bar.close()
    finally:
        await judge.close()
    errors = sum(1 for name in metrics for m in metrics[name] if m.get("judge_errors"))
    if errors:
        log.warning("judge: %d of %d verdicts unusable or unreachable (left out of the judge columns)",
                    errors, len(runs) * len(dialogues))
    return f"{judge.description}" + (f"; {errors} verdicts unusable" if errors else ""), verdicts


def summarize(metrics: dict[str, list[dict[str, float]]], reference: str) -> tuple[dict, list[dict]]:
    """Per system and metric: mean with a bootstrap 95% CI; every system vs ``reference``: paired."""
    nan = float("nan")
    summary: dict[str, dict[str, dict]] = {}
    for name, rows in metrics.items():
        summary[name] = {}
        for key in sorted({k for r in rows for k in r}):
            ci = bootstrap_mean([r.get(key, nan) for r in rows])
            summary[name][key] = {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}
    comparisons = []
    for name, rows in metrics.items():
        if name == reference:
            continue
        for key in COMPARED_METRICS:
            a, b = [r.get(key, nan) for r in rows], [r.get(key, nan) for r in metrics[reference]]
            if any(v == v for v in a) and any(v == v for v in b):  # NaN != NaN
                comparisons.append(paired(key, name, reference, a, b).to_dict())
    return summary, comparisons


async def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    kind, dialogues = load_dataset(cfg.dataset, cfg.limit)
    print(f"dataset {cfg.dataset}: {len(dialogues)} dialogues; systems: {', '.join(cfg.systems)}", file=sys.stderr)
    for name in cfg.systems:
        check_system(name)  # fail on a bad name before any work
    t0 = time.perf_counter()
    runs = await _run_systems(cfg, dialogues)
    metrics = {name: [case_metrics(d, r) for d, r in zip(dialogues, rs)] for name, rs in runs.items()}
    bert = _add_bertscore(cfg, dialogues, runs, metrics)
    judge, verdicts = await _add_judge(cfg, dialogues, runs, metrics)
    summary, comparisons = summarize(metrics, cfg.systems[0])
    s = cfg.settings
    return {
        "meta": {
            "dataset": cfg.dataset, "kind": kind, "dialogues": len(dialogues), "limit": cfg.limit,
            "systems": list(cfg.systems), "reference_system": cfg.systems[0],
            "engine": s.engine, "classifier": s.classifier,
            "with_references": sum(bool(d.references) for d in dialogues),
            "bertscore": bert, "judge": judge or f"skipped (--judge {cfg.judge})",
            "seconds": round(time.perf_counter() - t0, 1), "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv),
        },
        "summary": summary, "comparisons": comparisons,
        "cases": {name: [{"id": d.id, "notes": r.notes, "labels": r.labels, "dropped": r.dropped,
                          "metrics": m, **({"judge": verdicts[name][i]} if verdicts else {})}
                         for i, (d, r, m) in enumerate(zip(dialogues, runs[name], metrics[name]))]
                  for name in runs},
    }


def write_results(results: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1, allow_nan=True), encoding="utf-8")
    return path


def summary_table(results: dict[str, Any], metrics: Sequence[str] = SUMMARY_METRICS) -> str:
    """A plain-text table of the means (what the command prints)."""
    summary = results["summary"]
    present = [k for k in metrics if any(k in summary[s] for s in summary)]
    width = max(len(s) for s in summary) + 2
    cols = [max(len(k), 7) + 2 for k in present]
    lines = [" " * width + "".join(f"{k:>{w}}" for k, w in zip(present, cols))]
    for name, row in summary.items():
        cells = "".join(f"{_fmt(row[k]['mean']) if k in row else '-':>{w}}" for k, w in zip(present, cols))
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    if v != v:
        return "-"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
