"""The harness end to end: systems -> metrics -> statistics -> report, offline and with a judge."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from casenotes.eval.report import load_results, write_report
from casenotes.eval.run import EvalConfig, run_eval, summary_table, write_results
from casenotes.settings import Settings

TURNS = [
    [{"role": "customer", "text": "@ShopCare my order 55812 never arrived and I was charged $40.10 twice"},
     {"role": "agent", "text": "@cust1 Sorry about that! I have refunded the second charge of $40.10 today ^LD"},
     {"role": "customer", "text": "thanks"}],
    [{"role": "customer", "text": "The app crashes every time I open the camera on my Pixel 7"},
     {"role": "agent", "text": "Please reinstall the app from the store, that fixes the camera crash"},
     {"role": "customer", "text": "Reinstalled, it works now"}],
    [{"role": "customer", "text": "I need to change the delivery address of order 90210 to 4 Elm Street"},
     {"role": "agent", "text": "Done, order 90210 will now ship to 4 Elm Street on Monday"}],
]
REFS = [["Customer's order 55812 did not arrive and was charged twice. Agent refunded the second charge."],
        ["Customer's app crashes when opening the camera. Agent suggested reinstalling, which worked."],
        ["Customer asked to change the delivery address of order 90210. Agent changed it."]]


@pytest.fixture
def dataset(tmp_path):
    f = tmp_path / "mini.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "turns": t, "references": r}) + "\n"
                         for i, (t, r) in enumerate(zip(TURNS, REFS))))
    return f"jsonl:{f}"


def _config(dataset, out, **kw):
    settings = Settings.from_env(env={}, classifier="passthrough", data_dir=str(out / "state"))
    return EvalConfig(dataset=dataset, systems=["progressive", "bulk", "chunk-15", "first-last-tagged"],
                      out=out, settings=settings, bertscore=False, **kw)


async def test_run_scores_every_system_per_case_and_compares_them(dataset, tmp_path):
    results = await run_eval(_config(dataset, tmp_path))
    meta, summary = results["meta"], results["summary"]
    assert meta["judge"].startswith("skipped") and meta["reference_system"] == "progressive"
    assert set(results["cases"]) == {"progressive", "bulk", "chunk-15", "first-last-tagged"}
    for name, cases in results["cases"].items():
        assert [c["id"] for c in cases] == ["d0", "d1", "d2"]
        for c in cases:
            assert {"rougeL", "rouge1_max", "words", "compression", "ungrounded", "handles"} <= set(c["metrics"])
    # The copied first/last turns keep the @handle and the signature; the baseline makes no engine call.
    assert summary["first-last-tagged"]["handles"]["mean"] > 0
    assert summary["first-last-tagged"]["engine_calls"]["mean"] == 0
    assert summary["bulk"]["engine_calls"]["mean"] == 1
    assert summary["progressive"]["engine_calls"]["mean"] >= 2
    compared = {(c["system"], c["metric"]) for c in results["comparisons"]}
    assert ("bulk", "rougeL") in compared and ("first-last-tagged", "words") in compared
    table = summary_table(results)
    assert "progressive" in table and "rougeL" in table


async def test_report_is_rebuilt_from_results_alone(dataset, tmp_path):
    out = tmp_path / "out"
    results = await run_eval(_config(dataset, out))
    write_results(results, out)
    written = write_report(load_results(out), out)
    names = {p.name for p in written}
    assert {"report.md", "report.html", "metrics.png", "note_length.png", "cost.png"} <= names
    md = (out / "report.md").read_text()
    assert "| progressive |" in md and "mean diff vs progressive" in md and "LLM judge: skipped" in md
    assert "data:image/png;base64," in (out / "report.html").read_text()


async def test_judge_columns_appear_with_a_judge_server(dataset, tmp_path):
    from casenotes.eval.fakejudge import FakeJudgeServer

    server = await FakeJudgeServer().start()
    try:
        cfg = _config(dataset, tmp_path, judge="openai", judge_cache=tmp_path / "cache")
        cfg.settings = cfg.settings.replace(judge_url=server.base_url, judge_model="fake-judge")
        results = await run_eval(cfg)
        calls = len(server.completions)
        # One verdict per system and dialogue; identical notes for a dialogue are judged once (cache).
        distinct = {(c["id"], tuple(c["notes"])) for cases in results["cases"].values() for c in cases}
        assert calls == len(distinct) and sum(len(c) for c in results["cases"].values()) == 12
        assert "order 55812" in json.dumps(server.completions[0])  # the case reached the judge
        for name in results["summary"]:
            assert 0 <= results["summary"][name]["judge_overall"]["mean"] <= 1
        assert all("judge" in c for c in results["cases"]["bulk"])
        await run_eval(cfg)  # a rerun is answered from the cache
        assert len(server.completions) == calls
    finally:
        await server.stop()


def test_cli_writes_the_report_and_prints_the_table(dataset, tmp_path):
    out = tmp_path / "cli"
    env = {**os.environ, "CASENOTES_DATA_DIR": str(tmp_path / "state"), "CASENOTES_CLASSIFIER": "passthrough"}
    p = subprocess.run([sys.executable, "-m", "casenotes", "eval", "run", "--dataset", dataset, "--systems",
                        "progressive,lead-2", "--no-bertscore", "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "rougeL" in p.stdout and "judge: skipped" in p.stdout
    assert (out / "results.json").is_file() and (out / "report.html").is_file()
    bad = subprocess.run([sys.executable, "-m", "casenotes", "eval", "run", "--dataset", dataset, "--systems",
                          "progressive,sumarize", "--out", str(out)], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown system 'sumarize'" in bad.stderr


async def test_an_unreachable_judge_is_recorded_not_fatal(dataset, tmp_path):
    from casenotes.processors.broker import free_port

    cfg = _config(dataset, tmp_path, judge="openai", judge_cache=tmp_path / "cache")
    cfg.systems = ["first-last"]
    cfg.settings = cfg.settings.replace(judge_url=f"http://127.0.0.1:{free_port()}/v1", judge_model="m",
                                        llm_retries=0, llm_timeout_s=2.0)
    results = await run_eval(cfg)
    assert results["meta"]["judge"].startswith("skipped: judge not reachable")
    assert "judge_overall" not in results["summary"]["first-last"] and results["cases"]["first-last"]


async def test_judge_failures_mid_run_are_counted_not_fatal(dataset, tmp_path):
    from casenotes.eval.fakejudge import FakeJudgeServer

    server = await FakeJudgeServer().start()
    try:
        server.fail_status = 503  # up at start (GET /models answers), then every verdict fails
        cfg = _config(dataset, tmp_path, judge="openai", judge_cache=tmp_path / "cache")
        cfg.systems = ["first-last"]
        cfg.settings = cfg.settings.replace(judge_url=server.base_url, judge_model="fake-judge", llm_retries=0)
        results = await run_eval(cfg)
    finally:
        await server.stop()
    assert "3 verdicts unusable" in results["meta"]["judge"]
    assert all(c["judge"]["error"] for c in results["cases"]["first-last"])
    assert "judge_overall" not in results["summary"]["first-last"]


def test_cli_with_a_judge_server_and_judge_agreement(dataset, tmp_path):
    """As a user would: the fake judge as its own process, then `eval run --judge openai` and
    `eval judge-agreement` on the shipped gold file."""
    import time
    import urllib.request
    from pathlib import Path

    from casenotes.processors.broker import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "casenotes.eval.fakejudge", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        env = {**os.environ, "CASENOTES_DATA_DIR": str(tmp_path / "state"), "CASENOTES_CLASSIFIER": "passthrough",
               "CASENOTES_JUDGE_URL": f"http://127.0.0.1:{port}/v1", "CASENOTES_JUDGE_MODEL": "fake-judge"}
        out = tmp_path / "judged"
        p = subprocess.run([sys.executable, "-m", "casenotes", "eval", "run", "--dataset", dataset, "--systems",
                            "bulk,first-last", "--no-bertscore", "--judge", "openai", "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "judge_overall" in p.stdout and "judge: openai" in p.stdout
        assert "judge_overall" in (out / "report.md").read_text()
        gold = Path(__file__).resolve().parents[3] / "data" / "eval" / "judge_gold.jsonl"
        a = subprocess.run([sys.executable, "-m", "casenotes", "eval", "judge-agreement", str(gold)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert a.returncode == 0, a.stderr
        assert "fake_digit" in a.stdout and "F1" in a.stdout
    finally:
        server.terminate()
        server.wait(10)
