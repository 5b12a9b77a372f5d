import json

import pytest

from casenotes.eval.datasets import DatasetError, load_dataset


def test_generic_jsonl_becomes_case_files(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"id": "x1", "language": "fr", "references": ["Le client ..."], "turns": [
        {"role": "customer", "text": "Ma commande 55812 n'est pas arrivée."},
        {"role": "agent", "text": "Je la renvoie aujourd'hui."}, {"role": "customer", "text": "  "}]}) + "\n")
    kind, [d] = load_dataset(f"jsonl:{f}")
    assert kind == "jsonl" and d.id == "x1" and d.language == "fr"
    assert [m.role for m in d.turns] == ["customer", "agent"]  # the empty turn is skipped
    assert all(m.language == "fr" and m.channel == "chat" for m in d.turns)
    assert d.conversation_text() == "Customer: Ma commande 55812 n'est pas arrivée.\nAgent: Je la renvoie aujourd'hui."


@pytest.mark.parametrize("spec,error", [("nope:x", "unknown dataset kind"), ("tweetsumm:", "give a path"),
                                        ("jsonl:/does/not/exist.jsonl", "is not a file")])
def test_bad_dataset_specs_say_what_is_wrong(spec, error):
    with pytest.raises(DatasetError, match=error):
        load_dataset(spec)


def test_bad_role_is_an_error(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"id": "x", "turns": [{"role": "bot", "text": "hi"}]}) + "\n")
    with pytest.raises(DatasetError, match="role"):
        load_dataset(f"jsonl:{f}")


def test_samples_and_case_directories():
    kind, samples = load_dataset("samples:")
    assert kind == "samples" and len(samples) >= 10 and not samples[0].references
    assert {d.language for d in samples} >= {"en", "fr", "es"}


def test_tweetsumm_keeps_references_salience_and_social_media_artefacts(shared_data):
    kind, ds = load_dataset(f"tweetsumm:{shared_data / 'tweetsumm' / 'valid.jsonl'}", limit=5)
    assert kind == "tweetsumm" and len(ds) == 5
    d = ds[0]
    assert len(d.references) >= 2 and len(d.meta["salience"]) == len(d.turns)
    assert any("@" in m.text for m in d.turns)  # handles stay in the input, as in real traffic


def test_dialogsum_maps_speakers_to_roles(shared_data):
    _, [d] = load_dataset(f"dialogsum:{shared_data / 'dialogsum' / 'dialogsum.dev.jsonl'}", limit=1)
    assert {m.role for m in d.turns} == {"agent", "customer"} and d.references
