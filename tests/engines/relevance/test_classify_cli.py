import io
import json

from casenotes.engines.relevance.classify_cli import classify_file
from casenotes.model import LABELS
from casenotes.settings import Settings


def test_classify_file_format_and_bad_lines():
    lines = [
        json.dumps({"text": "Agent asked for the order number."}),
        "this is not json",
        json.dumps({"text": "Merci, bonne journée !", "id": 7}),
        json.dumps(["a", "list"]),
        json.dumps({"text": ""}),
        "",  # blank lines are skipped, not answered
        json.dumps({"text": "El cliente reinició el router y sigue sin conexión."}),
    ]
    out = io.StringIO()
    n = classify_file(Settings(classifier="onnx"), io.StringIO("\n".join(lines) + "\n"), out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(rows) == 6
    assert [("error" in r) for r in rows] == [False, True, False, True, True, False]
    assert "invalid JSON" in rows[1]["error"] and "object" in rows[3]["error"] and "text" in rows[4]["error"]
    good = [r for r in rows if "error" not in r]
    assert [r["text"] for r in good] == ["Agent asked for the order number.", "Merci, bonne journée !",
                                         "El cliente reinició el router y sigue sin conexión."]
    for r in good:
        assert set(r) == {"text", "label", "keep", "keep_prob", "probs"}
        assert r["label"] in LABELS and set(r["probs"]) == set(LABELS)
        assert r["keep"] == (r["keep_prob"] >= 0.5)
    assert good[0]["label"] == "agent_asks_follow_up" and good[1]["label"] == "other"
    assert "é" in out.getvalue()  # UTF-8 kept, not escaped


def test_classify_file_passthrough():
    out = io.StringIO()
    classify_file(Settings(classifier="passthrough"), io.StringIO('{"text": "hi"}\n'), out)
    assert json.loads(out.getvalue()) == {"text": "hi", "label": "unclassified", "keep": True, "keep_prob": 1.0, "probs": {}}
