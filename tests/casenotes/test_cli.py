"""The command line, run as a user would (subprocesses), against real servers where needed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from casenotes.casefile import sample_case_paths


def casenotes(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "casenotes", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_take_notes_extractive_jsonl_reports_each_message():
    case = sample_case_paths()[0]
    out = casenotes("take-notes", str(case), "--engine", "extractive", "--classifier", "passthrough", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    events = json.loads(case.read_text())["events"]
    assert [line["message_id"] for line in lines] == [e["message_id"] for e in events]
    ids = [b["bullet_id"] for line in lines for b in line["bullets"]]
    assert ids and len(ids) == len(set(ids))


def test_take_notes_final_runs_many_case_files_in_one_process():
    paths = sample_case_paths()[:3]
    out = casenotes("take-notes", *map(str, paths), "--final", "--format", "jsonl", "--classifier", "passthrough")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["case_id"] for line in lines] == [json.loads(p.read_text())["case_id"] for p in paths]
    for line, path in zip(lines, paths):
        assert line["messages"] == len(json.loads(path.read_text())["events"])
        assert 0 < line["engine_calls"] <= line["messages"]
        assert line["notes"] and {"bullet_id", "text", "label", "keep_prob", "trigger_message_id"} <= set(line["notes"][0])
        assert all(n["bullet_id"].startswith(line["case_id"] + ":") for n in line["notes"])
    assert out.stderr.count("# engine") == 1  # engine and classifier started once for all files


def test_take_notes_refuses_a_bad_file_before_any_work(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    out = casenotes("take-notes", str(sample_case_paths()[0]), str(bad), "--final")
    assert out.returncode == 2 and "not valid JSON" in out.stderr and not out.stdout
    assert "Traceback" not in out.stderr


@pytest.mark.integration
@pytest.mark.parametrize("protocol,port_attr", [("grpc", "grpc_url"), ("http", "http_url")])
def test_take_notes_against_a_triton_server_it_did_not_start(dev_triton, protocol, port_attr, tmp_path):
    """The done-when of the LLM issue: notes from an external Triton server hosting `ensemble`,
    over HTTP and gRPC; every call after the first carries the accepted bullets as the prefix."""
    case = sample_case_paths()[1]
    trace = tmp_path / "trace.jsonl"
    url = getattr(dev_triton, port_attr).split("://")[-1]
    out = casenotes("take-notes", str(case), "--engine", "triton", "--triton-url", url, "--protocol", protocol,
                    "--model", "ensemble", "--classifier", "passthrough", "--format", "jsonl", "--trace", str(trace))
    assert out.returncode == 0, out.stderr
    assert "engine triton (ensemble:" in out.stderr
    steps = [json.loads(line) for line in out.stdout.splitlines()]
    assert sum(len(s["bullets"]) for s in steps) >= 3
    calls = {c["message_id"]: c for c in map(json.loads, trace.read_text().splitlines())}
    assert len(calls) >= 3
    accepted: list[str] = []
    for step in steps:
        call = calls.get(step["message_id"])
        if call is not None:
            # Exactly the bullets accepted so far, in order, form the end of the prompt.
            assert call["prefix"] == accepted
            assert call["answer_prefix"] == "".join(f"- {b}\n" for b in accepted)
            assert call["prompt"].endswith(call["answer_prefix"])
        accepted += [b["text"] for b in step["bullets"]]
    assert any(c["prefix"] for c in calls.values()), "calls after the first carry the accepted bullets"


def test_settings_markdown_lists_every_variable():
    out = casenotes("settings", "--markdown")
    assert out.returncode == 0 and "| `CASENOTES_BROKER` |" in out.stdout and "CASENOTES_ENGINE" in out.stdout


def test_export_edits_requires_a_filter():
    out = casenotes("export-edits")
    assert out.returncode == 2 and "--day" in out.stderr


def test_readme_configuration_table_is_current():
    """The README's table is `casenotes settings --markdown`; regenerate it when a setting changes."""
    out = casenotes("settings", "--markdown")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert out.stdout.strip() in readme, "README configuration table is stale: paste `casenotes settings --markdown`"


def test_edit_needs_a_bullet_and_a_text():
    assert casenotes("edit", "c1", "--text", "new text").returncode == 2  # no --bullet
    out = casenotes("edit", "c1", "--bullet", "c1:0001", "--text", "  ")
    assert out.returncode == 2 and "--text" in out.stderr


@pytest.mark.integration
def test_edit_publishes_an_agent_edit_event(stack_settings):
    from casenotes.testing import TopicReader

    env = {**os.environ, **stack_settings.to_env()}
    runs = [casenotes("edit", "c1", "--bullet", "c1:0002", "--text", "Refund of $40 approved", env=env),
            casenotes("edit", "c1", "--bullet", "c1:0003", "--delete", env=env),
            casenotes("edit", "c1", "--add", "Customer prefers e-mail", "--agent-id", "a7", env=env)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    reader = TopicReader(stack_settings, "agent-edits", "agent_edit")
    try:
        recs = reader.wait_until(lambda rs: len(rs) >= 3)
    finally:
        reader.close()
    assert [(r["action"], r["bullet_id"], r["text"]) for r in recs] == [
        ("edit", "c1:0002", "Refund of $40 approved"), ("delete", "c1:0003", None), ("add", None, "Customer prefers e-mail")]
    assert recs[2]["agent_id"] == "a7" and all(r["case_id"] == "c1" for r in recs)
