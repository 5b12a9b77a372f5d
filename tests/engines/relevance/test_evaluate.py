import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score

from casenotes.engines.relevance import evaluate
from casenotes.model import LABELS


@pytest.fixture
def toy():
    rng = np.random.default_rng(3)
    y = np.tile(np.arange(6), 10)
    logits = rng.normal(size=(60, 6)) + 2.0 * np.eye(6)[y] * (rng.random(60) > 0.3)[:, None]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs


def test_metrics_match_sklearn(toy):
    y, probs = toy
    m = evaluate.compute_metrics(y, probs)
    pred = probs.argmax(1)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["micro_f1"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert m["roc_auc_macro"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    keep = (y != 5).astype(int)
    assert m["binary_f1"] == pytest.approx(f1_score(keep, (1 - probs[:, 5] >= 0.5).astype(int)))
    assert m["roc_auc_binary"] == pytest.approx(roc_auc_score(keep, 1 - probs[:, 5]))
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    for i, c in enumerate(LABELS):
        assert m["per_class"][c]["f1"] == pytest.approx(f[i])
        assert m["per_class"][c]["precision"] == pytest.approx(p[i])
        assert m["per_class"][c]["support"] == 10
    assert np.asarray(m["confusion_matrix"]).sum() == 60


def test_hand_computed_binary_f1():
    # keep truth [1,1,0,0]; predicted keep [1,0,1,0] -> precision 1/2, recall 1/2, F1 1/2
    y = [0, 1, 5, 5]
    probs = np.array([[.9, 0, 0, 0, 0, .1], [0, .3, 0, 0, 0, .7], [.6, 0, 0, 0, 0, .4], [0, 0, 0, 0, .2, .8]])
    m = evaluate.compute_metrics(y, probs)
    assert m["binary_f1"] == pytest.approx(0.5)
    assert "roc_auc_macro" not in m  # not every class present: undefined, not invented


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        evaluate.compute_metrics([0, 1], np.ones((3, 6)) / 6)


def test_report_files(tmp_path, toy):
    y, probs = toy
    m = evaluate.compute_metrics(y, probs)
    m["by_language"] = {"en": {"n": 60, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"],
                               "binary_f1": m["binary_f1"], "f1_other": m["per_class"]["other"]["f1"]}}
    evaluate.write_report(m, tmp_path, "toy")
    text = (tmp_path / "report.md").read_text()
    assert f"{m['macro_f1']:.3f}" in text and "0.801" in text  # ours next to the reference
    assert json.loads((tmp_path / "metrics.json").read_text())["reference"]["binary_f1"] == 0.895
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
