"""The external blind set: labels name tweets of the shared data by id and carry no text."""
from __future__ import annotations

import json

import pytest

from casenotes.engines.relevance.external import (DEFAULT_LABELS, clean_tweet, evaluate_external,
                                                  keep_everything_f1, load_items)
from casenotes.engines.relevance.onnx_classifier import BUNDLED_MODEL_DIR
from casenotes.model import LABELS


def _source(tmp_path):
    convs = [{"dialogContent": [
        {"client": "ana", "tweet_ID": "11", "message": "@Shop my parcel 4471 never arrived https://t.co/x"},
        {"agent": "Shop", "tweet_ID": "12", "message": "@ana Sorry! Can you DM us the order number?"}]}]
    p = tmp_path / "dev.json"
    p.write_text(json.dumps(convs))
    return p


def test_clean_tweet_drops_handles_and_links():
    assert clean_tweet("@Shop my parcel never arrived https://t.co/x ") == "my parcel never arrived"
    assert clean_tweet("mail me at a@b.com") == "mail me at a@b.com"


def test_load_items_joins_text_and_rejects_a_wrong_id(tmp_path):
    src = _source(tmp_path)
    labels = tmp_path / "l.jsonl"
    labels.write_text(json.dumps({"tweet_id": "12", "doc_id": 0, "turn": 1, "role": "agent",
                                  "label": "agent_asks_follow_up", "lang": "en"}) + "\n")
    [item] = load_items(labels, src)
    assert item["text"] == "Sorry! Can you DM us the order number?"
    labels.write_text(json.dumps({"tweet_id": "99", "doc_id": 0, "turn": 1, "role": "agent",
                                  "label": "other", "lang": "en"}) + "\n")
    with pytest.raises(ValueError, match="tweet 99"):
        load_items(labels, src)


def test_keep_everything_floor():
    items = [{"label": "other"}] + [{"label": "customer_provides_issue"}] * 3
    assert keep_everything_f1(items) == pytest.approx(2 * 3 / (3 + 4))


def test_external_set_resolves_and_is_scored(shared_data, tmp_path):
    if not DEFAULT_LABELS.exists():
        pytest.skip("no external labels in this checkout")
    items = load_items(DEFAULT_LABELS, shared_data / "twitter-care" / "dev.json")
    assert len(items) >= 300 and {it["label"] for it in items} <= set(LABELS)
    m = evaluate_external(BUNDLED_MODEL_DIR, out_dir=tmp_path, source=shared_data / "twitter-care" / "dev.json")
    assert m["n"] == len(items) and (tmp_path / "report.md").exists()
    # Quality is reported, not gated here (the set is small and 88% issues); but the keep score
    # must rank real, unseen utterances clearly better than chance.
    assert m["roc_auc_binary"] > 0.6
