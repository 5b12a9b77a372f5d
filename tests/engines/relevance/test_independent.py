"""The independent blind set (data/relevance/independent): written and labelled from the class
definitions alone, never trained or tuned on. It guards the acceptance bar of the shipped model."""
from __future__ import annotations

import pytest

from casenotes.engines.relevance.evaluate import ACCEPTANCE, REPO_ROOT, drop_seen, evaluate_items
from casenotes.engines.relevance.external import keep_everything_f1
from casenotes.engines.relevance.onnx_classifier import BUNDLED_MODEL_DIR
from casenotes.engines.relevance.train import load_jsonl

INDEPENDENT = REPO_ROOT / "data" / "relevance" / "independent" / "bullets.jsonl"


@pytest.fixture(scope="module")
def items():
    """The blind set less the stock phrases that also occur in the training data ("Okay")."""
    return drop_seen(load_jsonl(INDEPENDENT))[0]


def test_blind_set_shares_only_a_few_stock_phrases_with_the_training_data(items):
    shared = [it for it in load_jsonl(INDEPENDENT) if it not in items]
    # Written independently, it can only meet the training data by coincidence: short closings.
    assert len(shared) <= 8 and all(len(it["text"].split()) <= 10 for it in shared), shared


def test_blind_set_is_trilingual_and_keeping_everything_is_not_enough(items):
    assert {it["lang"] for it in items} == {"en", "fr", "es"} and len(items) >= 300
    assert keep_everything_f1(items) < 0.9  # the trivial keep-all filter stays below the bar


def test_bundled_model_meets_the_acceptance_bar_on_the_blind_set(items):
    m = evaluate_items(BUNDLED_MODEL_DIR, items)
    got = {"binary_f1": m["binary_f1"], "macro_f1": m["macro_f1"], "f1_other": m["per_class"]["other"]["f1"]}
    assert all(got[k] >= v for k, v in ACCEPTANCE.items()), got
