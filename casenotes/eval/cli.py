"""``casenotes eval run | report | judge-agreement``."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from casenotes.engines.factory import ENGINE_REGISTRY
from casenotes.settings import Settings


def cmd_run(args: argparse.Namespace) -> int:
    from casenotes.eval.datasets import DatasetError
    from casenotes.eval.report import write_report
    from casenotes.eval.run import EvalConfig, run_eval, summary_table, write_results

    overrides = {k: v for k, v in (("engine", args.engine), ("classifier", args.classifier),
                                   ("judge_url", args.judge_url), ("judge_model", args.judge_model)) if v}
    cfg = EvalConfig(dataset=args.dataset, systems=[s.strip() for s in args.systems.split(",") if s.strip()],
                     out=args.out, settings=Settings.from_env(**overrides), limit=args.limit, judge=args.judge,
                     judge_cache=args.judge_cache, bertscore=not args.no_bertscore)
    try:
        results = asyncio.run(run_eval(cfg))
    except (DatasetError, ValueError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    path = write_results(results, args.out)
    written = write_report(results, args.out)
    print(summary_table(results))
    print(f"\njudge: {results['meta']['judge']}")
    print(f"wrote {path} and {', '.join(str(p) for p in written)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from casenotes.eval.report import load_results, write_report
    from casenotes.eval.run import summary_table

    results = load_results(args.results)
    out = args.results if args.results.is_dir() else args.results.parent
    written = write_report(results, out)
    print(summary_table(results))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from casenotes.eval.agreement import format_agreement, run_agreement
    from casenotes.eval.judge import make_judge

    settings = Settings.from_env(**{k: v for k, v in (("judge_url", args.judge_url),
                                                      ("judge_model", args.judge_model)) if v})
    judge = make_judge(args.judge, settings, args.judge_cache or settings.data_path / "judge-cache")
    if judge is None:
        print("judge-agreement needs a judge: --judge openai or triton", file=sys.stderr)
        return 2
    print(format_agreement(asyncio.run(run_agreement(args.gold, judge))))
    return 0


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate notes: systems x datasets -> metrics, judge, report")
    esub = p.add_subparsers(dest="eval_command", required=True)

    r = esub.add_parser("run", help="take notes with each system on a dataset, score them, write the report")
    r.add_argument("--dataset", required=True,
                   help="tweetsumm:FILE | dialogsum:FILE | jsonl:FILE | cases:DIR_OR_FILES | samples:")
    r.add_argument("--systems", default="progressive,progressive-nofilter,chunk-200,chunk-500,bulk",
                   help="comma-separated; the first is the reference of the paired comparisons "
                        "(also: lead-K, longest-K, first-last, first-last-tagged)")
    r.add_argument("--engine", choices=ENGINE_REGISTRY.names)
    r.add_argument("--classifier", choices=["onnx", "passthrough"])
    r.add_argument("--judge", choices=["none", "openai", "triton"], default="none")
    r.add_argument("--judge-url", help="judge endpoint (CASENOTES_JUDGE_URL)")
    r.add_argument("--judge-model", help="judge model (CASENOTES_JUDGE_MODEL)")
    r.add_argument("--judge-cache", type=Path, help="judge answer cache (default <data_dir>/judge-cache)")
    r.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (the slowest metric)")
    r.add_argument("--limit", type=int, help="first N dialogues only")
    r.add_argument("--out", type=Path, required=True, help="output directory")
    r.set_defaults(func=cmd_run)

    r = esub.add_parser("report", help="rebuild report.md/html and plots from a results.json (offline)")
    r.add_argument("results", type=Path, help="results.json or its directory")
    r.set_defaults(func=cmd_report)

    r = esub.add_parser("judge-agreement", help="compare the LLM judge with gold labels per criterion")
    r.add_argument("gold", type=Path)
    r.add_argument("--judge", choices=["openai", "triton"], default="openai")
    r.add_argument("--judge-url")
    r.add_argument("--judge-model")
    r.add_argument("--judge-cache", type=Path)
    r.set_defaults(func=cmd_agreement)
