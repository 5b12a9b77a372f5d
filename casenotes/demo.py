"""``casenotes demo``: the whole system on one machine, on real parts.

Starts the embedded broker and a worker process, replays the bundled sample cases at a
realistic (compressed) pace, prints notes as they appear on the notes topic, and serves them
over HTTP. With ``--once`` it exits when every case is processed, printing a summary and
checking that each case's notes state the customer's issue and the agent's resolution.
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from casenotes.casefile import load_samples, sample_case_paths
from casenotes.processors.broker import EmbeddedBroker, ensure_topics, free_port, port_open
from casenotes.replay import replay
from casenotes.settings import Settings
from casenotes.testing import TopicReader, WorkerProcess

_COLORS = ["36", "33", "35", "32", "34", "31", "96", "93", "95", "92", "94", "91"]


def _color(i: int, text: str) -> str:
    return f"\033[{_COLORS[i % len(_COLORS)]}m{text}\033[0m" if sys.stdout.isatty() else text


def check_notes(checks: dict[str, list[list[str]]], notes: list[str]) -> list[str]:
    """The keyword groups of a sample's ``checks`` that the notes miss (empty: all present)."""
    blob = " ".join(notes).lower()
    missing = []
    for part in ("issue", "resolution"):
        for group in checks.get(part, []):
            if not any(alt.lower() in blob for alt in group):
                missing.append(f"{part}: one of {group}")
    return missing


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def run_demo(once: bool = False, speed: float = 10.0, max_gap: float = 1.5, web_port: int = 6066) -> int:
    data_dir = Path(".casenotes/demo").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)  # the embedded broker starts empty: so must the state
    data_dir.mkdir(parents=True)
    cases = load_samples()
    checks = {json.loads(p.read_text())["case_id"]: json.loads(p.read_text()).get("checks", {})
              for p in sample_case_paths()}
    color = {c.case_id: i for i, c in enumerate(cases)}
    if port_open("127.0.0.1", web_port):
        web_port = free_port()

    print(f"casenotes demo: {len(cases)} sample cases, {sum(len(c.events) for c in cases)} messages")
    with EmbeddedBroker(port=free_port(), log_path=data_dir / "broker.log") as broker:
        settings = Settings.from_env(broker=broker.url, embedded_broker=True, data_dir=str(data_dir),
                                     web_port=web_port, app_id="casenotes-demo")
        ensure_topics(settings)
        print(f"  broker  tansu (embedded, in-memory) at {broker.bootstrap}")
        worker = WorkerProcess(settings, data_dir / "worker.log")
        t0 = time.monotonic()
        worker.start()
        print(f"  worker  ready in {time.monotonic() - t0:.1f}s, notes at {worker.base_url}/  (log: {worker.log_path})")
        notes = TopicReader(settings, "notes", "case_note")
        stop_replay = threading.Event()
        replayer = threading.Thread(target=replay, args=(settings, cases, speed, max_gap),
                                    kwargs={"stop": stop_replay}, daemon=True)
        replayer.start()
        try:
            done: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 600
            while len(done) < len(cases):
                for n in notes.poll(0.5):
                    tag = _color(color.get(n["case_id"], 0), f"{n['case_id']:>26}")
                    print(f"{tag}  + {n['text']}" + (f"  [{n['label']}]" if n.get("label") else ""), flush=True)
                for c in cases:
                    if c.case_id not in done:
                        info = worker.case(c.case_id)
                        if info and info["covered"] >= len(c.events):
                            done[c.case_id] = info
                if time.monotonic() > deadline:
                    print("timed out waiting for notes; worker log tail:\n" + worker.log_tail(), file=sys.stderr)
                    return 1
                if worker.proc and worker.proc.poll() is not None:
                    print("worker died:\n" + worker.log_tail(), file=sys.stderr)
                    return 1
            notes.poll(1.0)
            return _summary(cases, done, checks, time.monotonic() - t0) if once else _serve(worker)
        except KeyboardInterrupt:
            print("\nstopping: replay, worker, broker", file=sys.stderr)
            return 130
        finally:
            stop_replay.set()  # producers go before the broker, or librdkafka logs connection errors
            replayer.join(5)
            notes.close()
            worker.stop()


def _summary(cases: list, done: dict[str, dict[str, Any]], checks: dict, elapsed: float) -> int:
    latencies = [v for info in done.values() for v in info["latencies_ms"]]
    kept = sum(i["kept"] for i in done.values())
    dropped = sum(i["dropped"] for i in done.values())
    print("\n" + "=" * 78)
    print(f"cases {len(done)}  messages {sum(i['messages'] for i in done.values())}  "
          f"bullets kept {kept} dropped {dropped}  ({elapsed:.1f}s)")
    print(f"message-to-note latency p50 {_percentile(latencies, .5):.0f} ms  p95 {_percentile(latencies, .95):.0f} ms"
          f"  (mean {statistics.fmean(latencies) if latencies else float('nan'):.0f} ms)")
    failures = 0
    for c in cases:
        texts = [n["text"] for n in done[c.case_id]["notes"] if n["status"] == "active"]
        missing = check_notes(checks.get(c.case_id, {}), texts)
        failures += bool(missing)
        print(f"  {'ok ' if not missing else 'MISSING'} {c.case_id:28} {len(texts):2} bullets"
              + (f"  missing {missing}" if missing else ""))
    print("=" * 78)
    return 1 if failures else 0


def _serve(worker: WorkerProcess) -> int:
    print(f"\nAll sample cases processed. Notes: {worker.base_url}/  (JSON {worker.base_url}/cases/)  — Ctrl-C to stop.")
    while worker.proc and worker.proc.poll() is None:
        time.sleep(1)
    return 0
