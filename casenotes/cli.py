"""``casenotes``: one command line for the worker, the dev stack and the offline tools."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from casenotes.engines.factory import CLASSIFIER_REGISTRY, ENGINE_REGISTRY
from casenotes.settings import Settings


def _settings_env(**overrides: str) -> None:
    """Options given on the command line win over the environment (and reach child modules)."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CASENOTES_{name.upper()}"] = str(value)


def cmd_worker(args: argparse.Namespace) -> int:
    from casenotes.processors.worker import run_worker
    run_worker(args.loglevel, reset_state=args.reset_state)
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from casenotes.processors.broker import run_broker
    return run_broker(args.port)


def cmd_topics(args: argparse.Namespace) -> int:
    from casenotes.processors.broker import ensure_topics
    created = ensure_topics(Settings.from_env())
    print("created: " + (", ".join(created) or "nothing (all exist)"))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from casenotes.casefile import load_case, load_samples
    from casenotes.processors.broker import ensure_topics
    from casenotes.replay import replay
    cases = [load_case(p) for p in args.files] + (load_samples() if args.samples or not args.files else [])
    settings = Settings.from_env()
    ensure_topics(settings)
    n = replay(settings, cases, speed=args.speed, max_gap=args.max_gap,
               on_publish=(lambda s: print(f"{s.at:6.1f}s {s.case_id} {s.message.role}: {s.message.text[:70]}"))
               if args.verbose else None)
    print(f"published {n} messages of {len(cases)} cases")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from casenotes.demo import run_demo
    return run_demo(once=args.once, speed=args.speed, max_gap=args.max_gap, web_port=args.web_port)


def cmd_take_notes(args: argparse.Namespace) -> int:
    from casenotes.casefile import CaseFileError, load_case
    from casenotes.notetaker import NoteTaker

    overrides = {"engine": args.engine, "triton_url": args.triton_url, "triton_protocol": args.protocol,
                 "classifier": args.classifier}
    if args.model:
        overrides["triton_model" if (args.engine or "") == "triton" else "openai_model"] = args.model
    _settings_env(**overrides)
    settings = Settings.from_env()
    try:
        cases = [load_case(p) for p in args.cases]  # all parsed first: a bad file fails before any work
    except (CaseFileError, OSError) as exc:
        print(f"take-notes: {exc}", file=sys.stderr)
        return 2
    trace = open(args.trace, "w", encoding="utf-8") if args.trace else None

    async def run() -> None:
        notetaker = NoteTaker.from_settings(settings)
        await notetaker.start()  # once for every case file: the model loads once
        engine = notetaker.engine
        print(f"# engine {engine.name} ({engine.model_version}), classifier {notetaker.classifier.name}"
              f" ({notetaker.classifier.model_version})", file=sys.stderr)
        try:
            for case in cases:
                await _take_notes_case(case, notetaker, args, trace)
        finally:
            await notetaker.close()
            if trace:
                trace.close()

    asyncio.run(run())
    return 0


async def _take_notes_case(case, notetaker, args: argparse.Namespace, trace) -> None:
    from casenotes.offline import take_notes_progressively

    engine, final, calls = notetaker.engine, [], 0
    if len(args.cases) > 1 and not args.final and args.format == "text":
        print(f"## {case.case_id}")
    async for step in take_notes_progressively(case, notetaker):
        new = [c.bullet for c in step.added]
        final.extend(new)
        calls += not step.result.skipped
        if trace and not step.result.skipped:
            # LLM engines keep the last prompt: the audit trail of what each call was given.
            prompt = getattr(engine, "last_prompt", None)
            trace.write(json.dumps({
                "case_id": case.case_id, "message_id": step.message.message_id,
                "prefix": step.result.context.get("prefix", []),
                "prompt": prompt.completion_text() if prompt is not None else None,
                "answer_prefix": prompt.answer_prefix if prompt is not None else None,
            }, ensure_ascii=False) + "\n")
        if args.final:
            continue
        if args.format == "jsonl":
            print(json.dumps({"case_id": case.case_id, "message_id": step.message.message_id, "bullets": [
                {"bullet_id": b.bullet_id, "text": b.text, "label": b.label, "keep_prob": b.keep_prob}
                for b in new], "dropped": [p.text for p in step.result.dropped]}, ensure_ascii=False), flush=True)
        elif new:
            print(f"[{step.message.message_id}] {step.message.role}: {step.message.text[:80]}")
            for b in new:
                print(f"    + {b.text}" + (f"  ({b.label})" if b.label else ""))
    if not args.final:
        return
    if args.format == "jsonl":
        print(json.dumps({"case_id": case.case_id, "notes": [
            {"bullet_id": b.bullet_id, "text": b.text, "label": b.label, "keep_prob": b.keep_prob,
             "trigger_message_id": b.trigger_message_id} for b in final],
            "engine_calls": calls, "messages": len(case.events)}, ensure_ascii=False), flush=True)
    else:
        print(f"## {case.case_id} ({len(case.events)} messages, {calls} engine calls)")
        for b in final:
            print(f"- {b.text}")


def cmd_classify(args: argparse.Namespace) -> int:
    from casenotes.engines.relevance.classify_cli import classify_file
    settings = Settings.from_env()
    with (open(args.file, encoding="utf-8") if args.file != "-" else sys.stdin) as inp:
        classify_file(settings, inp, sys.stdout)
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    """What an agent UI does: publish one edit event (edit, delete or add) for a case."""
    from casenotes.replay import Publisher
    if args.add is not None:
        action, bullet_id, text = "add", None, args.add
    elif args.delete:
        action, bullet_id, text = "delete", args.bullet, None
    else:
        action, bullet_id, text = "edit", args.bullet, args.text
    if action != "add" and not bullet_id:
        print("edit: --bullet BULLET_ID is required to edit or delete (see /cases/<id>/ for ids)", file=sys.stderr)
        return 2
    if action == "edit" and not (text or "").strip():
        print("edit: give --text NEW_TEXT, --delete, or --add TEXT", file=sys.stderr)
        return 2
    pub = Publisher(Settings.from_env())
    edit_id = pub.edit(args.case_id, action, bullet_id, text, agent_id=args.agent_id)
    pub.flush()
    print(f"published {action} {edit_id} for case {args.case_id}" + (f" bullet {bullet_id}" if bullet_id else ""))
    return 0


def cmd_export_edits(args: argparse.Namespace) -> int:
    from datetime import date
    from casenotes.editlog.export import export_edits
    if not args.day and not args.case:
        print("export-edits: give --day YYYY-MM-DD and/or --case CASE_ID", file=sys.stderr)
        return 2
    day = date.fromisoformat(args.day) if args.day else None
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    n = export_edits(Settings.from_env(), out, day=day, case_id=args.case)
    print(f"exported {n} edit records", file=sys.stderr)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    rows = Settings.table()
    if args.markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for name, default, help_ in rows:
            print(f"| `{name}` | `{default}` | {help_.replace('|', chr(92) + '|')} |")  # \| keeps the table
    else:
        current = Settings.from_env()
        for name, default, help_ in rows:
            value = getattr(current, name[len("CASENOTES_"):].lower())
            print(f"{name:36} {value!r:40} {help_}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="casenotes", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("worker", help="run the Faust stream worker")
    s.add_argument("--loglevel", default="info")
    s.add_argument("--reset-state", action="store_true",
                   help="start from empty local tables (dev, with the in-memory embedded broker only)")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (tansu, memory storage; dev only)")
    s.add_argument("--port", type=int, default=9092)
    s.set_defaults(func=cmd_broker)

    s = sub.add_parser("topics", help="create the topics (partitions and retention from settings)")
    s.set_defaults(func=cmd_topics)

    s = sub.add_parser("replay", help="publish case files (default: the bundled samples) to the input topics")
    s.add_argument("files", nargs="*", type=Path)
    s.add_argument("--samples", action="store_true", help="also publish the bundled sample cases")
    s.add_argument("--speed", type=float, default=10.0, help="time compression of real gaps (0: no waiting)")
    s.add_argument("--max-gap", type=float, default=2.0, help="longest wait between two messages of a case, s")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("demo", help="broker + worker + replay of the samples, notes printed live and served on HTTP")
    s.add_argument("--once", action="store_true", help="exit after every sample case is processed, with a summary")
    s.add_argument("--speed", type=float, default=10.0)
    s.add_argument("--max-gap", type=float, default=1.5)
    s.add_argument("--web-port", type=int, default=6066)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("take-notes", help="run case files through the note-taker, message by message")
    s.add_argument("cases", type=Path, nargs="+", metavar="CASE.json")
    s.add_argument("--final", action="store_true",
                   help="print each case's final notes once (jsonl: one line per case) instead of per message")
    s.add_argument("--engine", choices=ENGINE_REGISTRY.names)
    s.add_argument("--triton-url", help="host:port (gRPC 8001, HTTP 8000)")
    s.add_argument("--protocol", choices=["http", "grpc", "generate"])
    s.add_argument("--model", help="model name (Triton model or OpenAI model)")
    s.add_argument("--classifier", choices=CLASSIFIER_REGISTRY.names)
    s.add_argument("--format", choices=["text", "jsonl"], default="text")
    s.add_argument("--trace", metavar="FILE", help="write each engine call's prompt and bullet prefix as JSON lines")
    s.set_defaults(func=cmd_take_notes)

    s = sub.add_parser("classify", help='label bullets: JSON lines {"text": ...} in, verdicts out')
    s.add_argument("file", help="JSONL file, or - for stdin")
    s.set_defaults(func=cmd_classify)

    s = sub.add_parser("edit", help="publish an agent edit (as an agent UI would): edit, delete or add a bullet")
    s.add_argument("case_id")
    s.add_argument("--bullet", help="bullet id (e.g. case-hotel-double-charge:0003)")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="the new text of the bullet")
    what.add_argument("--delete", action="store_true", help="delete the bullet")
    what.add_argument("--add", metavar="TEXT", help="add a new agent-written bullet")
    s.add_argument("--agent-id", default="agent-cli")
    s.set_defaults(func=cmd_edit)

    s = sub.add_parser("export-edits", help="export the edit log as JSON lines (for training-data pipelines)")
    s.add_argument("--day", help="YYYY-MM-DD")
    s.add_argument("--case")
    s.add_argument("--output", "-o")
    s.set_defaults(func=cmd_export_edits)

    s = sub.add_parser("triton-dev", help="development Triton server (PyTriton, CPU) with the TensorRT-LLM "
                       "ensemble interface; a stand-in for Mixtral (see infra/triton/README.md)", add_help=False)
    s.add_argument("options", nargs="*", help="--http-port 8000 --grpc-port 8001 [--test-models]; see triton-dev --help")

    from casenotes.eval.cli import add_eval_parser
    add_eval_parser(sub)

    s = sub.add_parser("settings", help="print the configuration (CASENOTES_* variables)")
    s.add_argument("--markdown", action="store_true")
    s.set_defaults(func=cmd_settings)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["triton-dev"]:  # its own argument parser (options pass through unchanged)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from casenotes.engines.llm.devserver import main as devserver_main
        return devserver_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)
