import json
from collections import Counter

import pytest

from casenotes.engines.relevance import split
from casenotes.model import LABELS


def _write_raw(d, n_per_stratum=20):
    d.mkdir()
    for lang in split.LANGS:
        with open(d / f"{lang}.jsonl", "w", encoding="utf-8") as f:
            for label in LABELS:
                for i in range(n_per_stratum):
                    f.write(json.dumps({"text": f"{lang} {label} item number {i}", "label": label, "lang": lang}) + "\n")
    return d


def test_split_is_deterministic_and_stratified(tmp_path):
    raw = _write_raw(tmp_path / "raw")
    m1 = split.build_splits(raw, tmp_path / "a", seed=7)
    m2 = split.build_splits(raw, tmp_path / "b", seed=7)
    for s in split.SPLITS:
        assert (tmp_path / "a" / f"{s}.jsonl").read_bytes() == (tmp_path / "b" / f"{s}.jsonl").read_bytes()
        assert m1["splits"][s]["sha256"] == m2["splits"][s]["sha256"]
    # 20 per (label, lang) stratum -> 16 / 2 / 2 in every stratum.
    for s, want in (("train", 16), ("validation", 2), ("test", 2)):
        items = [json.loads(l) for l in open(tmp_path / "a" / f"{s}.jsonl", encoding="utf-8")]
        counts = Counter((it["label"], it["lang"]) for it in items)
        assert set(counts.values()) == {want} and len(counts) == len(LABELS) * 3
    texts = [json.loads(l)["text"] for s in split.SPLITS for l in open(tmp_path / "a" / f"{s}.jsonl")]
    assert len(texts) == len(set(texts)) == 20 * 6 * 3
    m3 = split.build_splits(raw, tmp_path / "c", seed=8)
    assert m3["splits"]["test"]["sha256"] != m1["splits"]["test"]["sha256"]


def test_duplicates_are_dropped_and_counted(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [
        {"text": "Customer was charged twice.", "label": "customer_provides_issue", "lang": "en"},
        {"text": "Customer was charged twice.", "label": "customer_provides_issue", "lang": "en"},  # exact
        {"text": "customer was CHARGED twice!", "label": "customer_provides_issue", "lang": "en"},  # normalised
        {"text": "Customer  was charged twice", "label": "other", "lang": "en"},  # normalised, conflicting
        {"text": "Le client a été débité deux fois.", "label": "customer_provides_issue", "lang": "fr"},
        {"text": "Le client a ete debite deux fois", "label": "customer_provides_issue", "lang": "fr"},  # accents
    ]
    (raw / "en.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    m = split.build_splits(raw, tmp_path / "out")
    assert m["raw_items"] == 6
    assert m["dropped_exact_duplicates"] == 1
    assert m["dropped_normalised_duplicates"] == 3
    assert m["conflicting_label_duplicates"] == 1
    assert sum(m["splits"][s]["items"] for s in split.SPLITS) == 2


@pytest.mark.parametrize("row, message", [
    ({"text": "x", "label": "bogus", "lang": "en"}, "label 'bogus'"),
    ({"text": "x", "label": "other", "lang": "de"}, "lang 'de'"),
    ({"text": "  ", "label": "other", "lang": "en"}, "non-empty"),
])
def test_bad_items_are_rejected_with_their_line(tmp_path, row, message):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "en.jsonl").write_text(json.dumps({"text": "fine", "label": "other", "lang": "en"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(split.DataError, match=message) as e:
        split.build_splits(raw, tmp_path / "out")
    assert "en.jsonl:2" in str(e.value)


def test_checked_in_manifest_matches_files():
    import hashlib
    m = json.loads((split.DEFAULT_OUT / "manifest.json").read_text())
    for s in split.SPLITS:
        blob = (split.DEFAULT_OUT / f"{s}.jsonl").read_bytes()
        assert hashlib.sha256(blob).hexdigest() == m["splits"][s]["sha256"]
        assert blob.count(b"\n") == m["splits"][s]["items"]
