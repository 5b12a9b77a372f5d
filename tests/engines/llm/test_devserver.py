"""The dev server's prompt parsing (the Triton side is exercised in test_triton.py)."""
from casenotes.engines.llm.devserver import DevNoteWriter, limit_answer, parse_prompt
from casenotes.engines.llm.prompt import build_prompt
from llm_cases import FOLLOW_UP, OPENING, bullet, msg, view


def test_parse_prompt_round_trips_the_case():
    v = view(OPENING + FOLLOW_UP, [bullet(0, "Customer reports order A-99812 not received")], covered=2)
    parsed = parse_prompt(build_prompt(v, language="fr").completion_text())
    assert [(m.channel, m.role, m.text, m.ts) for m in parsed.history] == [(m.channel, m.role, m.text, m.ts) for m in v.history]
    assert parsed.covered == 2 and [b.text for b in parsed.bullets] == ["Customer reports order A-99812 not received"]
    assert {m.language for m in parsed.history} == {"fr"}
    chat_user = build_prompt(v).chat_messages(continuation=False)[1]["content"]
    assert [b.text for b in parse_prompt(chat_user).bullets] == ["Customer reports order A-99812 not received"]


def test_writer_continues_with_new_facts_only():
    writer = DevNoteWriter()
    v = view(OPENING + FOLLOW_UP, [bullet(0, "Customer reports order A-99812 not received")], covered=2)
    answer = writer.continuation(build_prompt(v).completion_text())
    lines = answer.splitlines()
    assert lines and all(line.startswith("- ") for line in lines)
    assert "CL-5531" in answer or "4417" in answer
    assert writer.continuation(build_prompt(view([msg(0, "customer", "hi")], covered=0)).completion_text()) == ""


def test_limit_answer_honours_stop_words_and_max_tokens():
    assert limit_answer("- a\n</notes>\n- b\n", 100, ["</notes>"]) == "- a\n"
    assert limit_answer("x" * 100, 5, []) == "x" * 20
