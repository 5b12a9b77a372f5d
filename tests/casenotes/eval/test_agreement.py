"""Judge agreement: metrics hand-computed on a tiny gold set, and the shipped gold file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from casenotes.eval.agreement import criterion_metrics, format_agreement, load_gold, run_agreement
from casenotes.eval.datasets import DatasetError
from casenotes.eval.fakejudge import FakeJudgeServer
from casenotes.eval.judge import CRITERIA, TRUTHFULNESS, make_judge
from casenotes.settings import Settings

GOLD = Path(__file__).resolve().parents[3] / "data" / "eval" / "judge_gold.jsonl"
CONV = [{"role": "customer", "text": "I was charged twice for my order 5512, both charges are $40.00"},
        {"role": "agent", "text": "I'm sorry. I've refunded the duplicate $40.00 to your card."}]
ISSUE_NOTE = "Customer was charged twice for order 5512 ($40.00 each)."
NO_ERRORS = dict.fromkeys(TRUTHFULNESS, False)


def record(rid, notes, conversation=CONV, **labels):
    return {"id": rid, "conversation": conversation, "notes": notes,
            "labels": {"issue": True, "commitment": None, "solution": True, **NO_ERRORS, **labels}}


def test_criterion_metrics_hand_computed():
    pairs = [(True, True), (True, False), (False, True), (False, False), (True, True),
             (None, None), (None, True), (True, None)]
    m = criterion_metrics(pairs)
    # gold not null: TT TF FT FF TT T(None->False): tp 2, fn 2, fp 1, tn 1
    assert (m["tp"], m["fn"], m["fp"], m["tn"], m["support"], m["positives"]) == (2, 2, 1, 1, 6, 4)
    assert m["accuracy"] == pytest.approx(0.5) and m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(0.5) and m["f1"] == pytest.approx(4 / 7)
    assert m["na_disagreements"] == 2
    empty = criterion_metrics([(False, False), (None, None)])
    assert (empty["accuracy"], empty["precision"], empty["recall"], empty["f1"]) == (1.0, None, None, None)


async def test_run_agreement_against_the_fake_judge(tmp_path):
    gold = tmp_path / "gold.jsonl"
    rows = [record("a", [ISSUE_NOTE, "Agent refunded the duplicate $40.00 to the card."]),
            record("b", [ISSUE_NOTE, "Agent refunded $45.00 to the card."], fake_digit=True),
            # The gold says an invented action that the fake judge's heuristic does not see: a miss.
            record("c", ["Agent refunded the duplicate $40.00 to the card."], issue=False, fake_action=True),
            record("d", [ISSUE_NOTE], [{"role": "customer", "text": "FAKEJUDGE:BAD_JSON charged twice"}])]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    server = await FakeJudgeServer().start()
    judge = make_judge("openai", Settings.from_env(env={}, judge_url=server.base_url, judge_model="fake-judge"),
                       tmp_path / "cache")
    try:
        result = await run_agreement(gold, judge)
    finally:
        await judge.close()
        await server.stop()
    assert (result["records"], result["judged"], result["errors"]) == (4, 3, 1)
    c = result["criteria"]
    assert (c["issue"]["tp"], c["issue"]["tn"], c["issue"]["accuracy"]) == (2, 1, 1.0)
    assert c["fake_digit"]["f1"] == 1.0 and c["fake_digit"]["support"] == 3
    assert (c["fake_action"]["accuracy"], c["fake_action"]["precision"], c["fake_action"]["recall"],
            c["fake_action"]["f1"]) == (pytest.approx(2 / 3), None, 0.0, 0.0)
    assert c["commitment"]["support"] == 0 and c["commitment"]["accuracy"] is None
    assert c["fake_issue"]["f1"] is None
    # Case scores: only c differs (gold truthfulness 0.8, judged 1.0; overall 0.65 vs 0.75).
    mae = result["score_mae"]
    assert mae["completeness"] == 0 and mae["truthfulness"] == pytest.approx(0.2 / 3)
    assert mae["overall"] == pytest.approx(0.1 / 3)
    # macro F1 over criteria with a defined F1: issue 1, solution 1, fake_digit 1, fake_action 0.
    assert result["macro_f1"] == pytest.approx(0.75)
    assert [i["id"] for i in result["items"]] == ["a", "b", "c", "d"] and result["items"][3]["verdict"]["error"]
    table = format_agreement(result)
    assert "fake_action" in table and "1 unusable" in table and "fake-judge" in table
    assert table.splitlines()[5].split()[0] == "issue"


@pytest.mark.parametrize("labels, match", [({"issue": True}, "labels"), ({**NO_ERRORS, "issue": None,
                                           "commitment": None, "solution": None}, "issue")])
def test_load_gold_rejects_bad_labels(tmp_path, labels, match):
    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps({"id": "x", "conversation": CONV, "notes": [], "labels": labels}) + "\n")
    with pytest.raises(DatasetError, match=match):
        load_gold(p)


def test_shipped_gold_file():
    gold = load_gold(GOLD)
    assert len(gold) >= 30 and len({g.id for g in gold}) == len(gold)
    for name in CRITERIA:  # every criterion has positives and negatives to agree on
        values = [g.labels[name] for g in gold]
        assert values.count(True) >= 1 and values.count(False) >= 1, name
    assert sum(g.labels["commitment"] is None for g in gold) >= 3
    assert {g.dialogue.language for g in gold} == {"en", "fr", "es"}
    readme = (GOLD.parent / "README.md").read_text()
    assert "not human-labelled" in readme


async def test_fake_judge_runs_on_the_shipped_gold(tmp_path):
    server = await FakeJudgeServer().start()
    judge = make_judge("openai", Settings.from_env(env={}, judge_url=server.base_url, judge_model="fake-judge"),
                       tmp_path / "cache")
    try:
        result = await run_agreement(GOLD, judge)
    finally:
        await judge.close()
        await server.stop()
    assert result["errors"] == 0 and result["judged"] == len(load_gold(GOLD))
