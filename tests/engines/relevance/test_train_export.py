"""A tiny training run -> ONNX export -> int8, for a random BERT and a random DeBERTa-v2
checkpoint: the pipeline must accept any checkpoint directory unchanged."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from casenotes.engines.relevance.export import export_model  # noqa: E402
from casenotes.engines.relevance.onnx_classifier import OnnxModel  # noqa: E402
from casenotes.engines.relevance.train import train  # noqa: E402
from casenotes.model import LABELS  # noqa: E402

WORDS = {
    "customer_provides_issue": "charged twice broken refund wants problem",
    "customer_provides_context": "order number plan since march device",
    "customer_takes_action": "restarted sent tried paid uploaded will",
    "agent_asks_follow_up": "asked which could you confirm check",
    "agent_provides_solution": "issued explained escalated resolved credit",
    "other": "thanks hello bye okay hold moment",
}


def _toy_items(n_per_class, seed):
    rng = np.random.default_rng(seed)
    items = []
    for label, words in WORDS.items():
        w = words.split()
        for _ in range(n_per_class):
            items.append({"text": " ".join(rng.choice(w, size=rng.integers(3, 8))), "label": label, "lang": "en"})
    return items


def _write(path, items):
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return path


def _tokenizer_dir(d):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                                         + sorted({w for ws in WORDS.values() for w in ws.split()}))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(str(d))
    return len(vocab)


def _bert(d, vocab):
    from transformers import BertConfig, BertModel
    BertModel(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, pad_token_id=0)).save_pretrained(str(d))


def _deberta(d, vocab):
    from transformers import DebertaV2Config, DebertaV2Model
    DebertaV2Model(DebertaV2Config(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64, relative_attention=True,
                                   position_buckets=16, pos_att_type=["p2c", "c2p"], type_vocab_size=0,
                                   position_biased_input=False, pad_token_id=0)).save_pretrained(str(d))


@pytest.mark.parametrize("make_model", [_bert, _deberta], ids=["bert", "deberta-v2"])
def test_tiny_train_export_int8(tmp_path, make_model):
    base = tmp_path / "base"
    vocab = _tokenizer_dir(base)
    make_model(base, vocab)
    train_p = _write(tmp_path / "train.jsonl", _toy_items(12, 1))
    val_p = _write(tmp_path / "val.jsonl", _toy_items(4, 2))
    r = train(base, tmp_path / "trained", train_p, val_p, epochs=2, batch_size=8, lr=1e-3, max_steps=12,
              progress=False, max_length=32)
    assert r.best_epoch in (1, 2) and 0.0 <= r.best_val_macro_f1 <= 1.0
    hist = json.loads((tmp_path / "trained" / "training.json").read_text())["history"]
    assert len(hist) == 2 and hist[0]["train_loss"] is not None

    out = tmp_path / "served"
    rep = export_model(tmp_path / "trained", out, quantize=True, val_path=val_p, max_length=32)
    assert rep["max_abs_logit_diff_fp32_vs_torch"] < 1e-4  # ONNX fp32 == torch
    assert rep["validation"]["items"] == 24
    assert 0.0 <= rep["validation"]["prediction_agreement"] <= 1.0
    assert rep["size_mb_final"] <= rep["size_mb_fp32"]
    for f in ("model.onnx", "tokenizer.json", "labels.json", "serving.json", "MODEL_CARD.md"):
        assert (out / f).is_file()
    assert json.loads((out / "labels.json").read_text()) == list(LABELS)

    m = OnnxModel(out)  # the int8 model runs through the serving code, variable batch and length
    p = m.probs(["thanks bye", "charged twice refund wants problem broken twice", "asked"])
    assert p.shape == (3, 6) and np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_length_bucketed_batches_cover_every_item_once():
    from casenotes.engines.relevance.train import length_bucketed_batches
    texts = ["x" * n for n in np.random.default_rng(0).integers(1, 80, size=203)]
    a = length_bucketed_batches(texts, 16, torch.Generator().manual_seed(1))
    b = length_bucketed_batches(texts, 16, torch.Generator().manual_seed(1))
    assert a == b and sorted(i for bt in a for i in bt) == list(range(203))
    assert all(len(bt) <= 16 for bt in a) and len(a) == 13
