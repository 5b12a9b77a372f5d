"""Serving: the bundled default model, the micro-batcher, provider reporting."""
import asyncio
import threading

import numpy as np
import pytest

from casenotes.engines.base import EngineError, RelevanceClassifier
from casenotes.engines.relevance import make_classifier
from casenotes.engines.relevance.onnx_classifier import (BUNDLED_MODEL_DIR, MicroBatcher, ModelNotFound,
                                                         OnnxRelevanceClassifier)
from casenotes.engines.relevance.passthrough import PassthroughClassifier
from casenotes.settings import Settings

OBVIOUS = [
    ("Thank you so much for your help, have a great day!", "other"),
    ("Merci beaucoup, bonne journée !", "other"),
    ("Muchas gracias, que tenga un buen día.", "other"),
    ("Could you give me your order number, please?", "agent_asks_follow_up"),
    ("Pouvez-vous me donner votre numéro de commande ?", "agent_asks_follow_up"),
    ("¿Me puede dar su número de pedido, por favor?", "agent_asks_follow_up"),
    ("I was charged twice for the same order and I want my money back.", "customer_provides_issue"),
    ("Agent issued a full refund of $45, it will arrive in 5-7 business days.", "agent_provides_solution"),
]


@pytest.fixture(scope="module")
def settings():
    return Settings(classifier="onnx", classifier_providers="CUDAExecutionProvider,CPUExecutionProvider")


@pytest.fixture
async def clf(settings):
    c = make_classifier(settings)
    await c.start()
    yield c
    await c.close()


def test_bundled_model_is_shipped():
    for f in ("model.onnx", "tokenizer.json", "labels.json", "serving.json", "MODEL_CARD.md"):
        assert (BUNDLED_MODEL_DIR / f).is_file(), f
    assert (BUNDLED_MODEL_DIR / "model.onnx").stat().st_size < 40 * 2**20


async def test_obvious_examples_in_three_languages(clf):
    assert isinstance(clf, OnnxRelevanceClassifier) and isinstance(clf, RelevanceClassifier)
    verdicts = await clf.classify([t for t, _ in OBVIOUS])
    assert [v.label for v in verdicts] == [lb for _, lb in OBVIOUS]
    for v in verdicts:
        assert v.keep == (v.keep_prob >= 0.5) and v.keep == (v.label != "other")
        assert v.keep_prob == pytest.approx(1 - v.probs["other"], abs=1e-6)
        assert sum(v.probs.values()) == pytest.approx(1.0, abs=1e-4)


async def test_provider_is_reported(clf):
    import onnxruntime as ort
    assert clf.providers == clf.model.session.get_providers()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert clf.provider == "CPUExecutionProvider"  # CUDA asked for first, CPU really used


async def test_concurrent_calls_are_batched_and_in_order(clf):
    texts = [t for t, _ in OBVIOUS]
    direct = clf.model.probs(texts)
    before = clf._batcher.batches_run
    calls = [texts[i:i + 1 + i % 2] for i in range(len(texts))]  # 1- and 2-bullet calls
    results = await asyncio.gather(*(clf.classify(c) for c in calls))
    assert clf._batcher.batches_run - before < len(calls)  # shared session runs
    for call, res in zip(calls, results):
        assert len(res) == len(call)
        for text, v in zip(call, res):
            want = direct[texts.index(text)]
            assert np.allclose([v.probs[k] for k in clf.model.labels], want, atol=1e-4)


async def test_threshold_decides_keep(settings):
    texts = ["Agent asked for the booking reference.", "ok thanks bye"]
    lax = OnnxRelevanceClassifier.from_settings(settings.replace(classifier_threshold=0.0))
    strict = OnnxRelevanceClassifier.from_settings(settings.replace(classifier_threshold=1.0))
    assert all(v.keep for v in await lax.classify(texts))
    assert not any(v.keep for v in await strict.classify(texts))
    await lax.close()
    await strict.close()
    with pytest.raises(ValueError, match="threshold"):
        OnnxRelevanceClassifier.from_settings(settings.replace(classifier_threshold=1.5))


def test_missing_model_gives_clear_error(tmp_path, settings):
    with pytest.raises(ModelNotFound, match="lacks model.onnx.*passthrough"):
        OnnxRelevanceClassifier.from_settings(settings.replace(classifier_model=str(tmp_path)))


async def test_empty_and_bad_input(clf):
    assert await clf.classify([]) == []
    with pytest.raises(TypeError):
        await clf.classify("one string")


async def test_passthrough_keeps_everything():
    c = make_classifier(Settings(classifier="passthrough"))
    assert isinstance(c, PassthroughClassifier)
    [v] = await c.classify(["ok thanks"])
    assert (v.label, v.keep, v.keep_prob) == ("unclassified", True, 1.0)
    with pytest.raises(ValueError, match="CASENOTES_CLASSIFIER"):
        make_classifier(Settings(classifier="nope"))


# --- the micro-batcher on its own, with a plain function as the "model" --------------------
async def test_microbatcher_groups_within_window_and_keeps_order():
    seen = []

    def run(texts):
        seen.append((list(texts), threading.current_thread() is threading.main_thread()))
        return np.array([[len(t)] for t in texts])

    b = MicroBatcher(run, max_batch=100, max_wait_s=0.02)
    calls = [["a"], ["bb", "ccc"], ["dddd"]]
    out = await asyncio.gather(*(b.submit(c) for c in calls))
    assert [r[:, 0].tolist() for r in out] == [[1], [2, 3], [4]]
    assert len(seen) == 1 and seen[0][0] == ["a", "bb", "ccc", "dddd"]
    assert seen[0][1] is False  # ran in a worker thread, not on the event loop
    await b.close()


async def test_microbatcher_respects_max_batch_and_reports_errors():
    sizes = []

    def run(texts):
        sizes.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("kaput")
        return np.zeros((len(texts), 1))

    b = MicroBatcher(run, max_batch=2, max_wait_s=0.02)
    await asyncio.gather(*(b.submit([str(i)]) for i in range(5)))
    assert max(sizes) == 2 and sum(sizes) == 5
    with pytest.raises(EngineError, match="kaput"):
        await b.submit(["boom"])
    assert (await b.submit(["fine"])).shape == (1, 1)  # the loop survives a failed batch
    await b.close()
