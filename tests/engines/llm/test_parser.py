from casenotes.engines.llm.parser import MAX_BULLET_CHARS, parse_bullets, strip_echo


def test_list_markers_and_blank_lines():
    answer = "- one fact here\n\n* second fact here\n• third fact here\n1. fourth fact here\n2) fifth fact here\nsixth fact here\n"
    r = parse_bullets(answer)
    assert r.bullets == ["one fact here", "second fact here", "third fact here", "fourth fact here",
                         "fifth fact here", "sixth fact here"]
    assert r.rejected == []


def test_echo_of_prefix_and_duplicates_are_dropped_and_counted():
    existing = ["Customer reports order A-99812 not received"]
    answer = ("- customer reports order A-99812 not received.\n- Agent opened claim CL-5531\n"
              "- Agent opened claim CL-5531!\n")
    r = parse_bullets(answer, existing)
    assert r.bullets == ["Agent opened claim CL-5531"]
    assert r.rejected == ["echo", "duplicate"]


def test_refusals_and_nothing_new_are_no_bullets():
    for answer in ("I'm sorry, I can't help with that.", "As an AI language model I cannot", "No new information.",
                   "N/A", "None", "- None", "Nothing new to add.", "Rien de nouveau."):
        r = parse_bullets(answer)
        assert r.bullets == [], answer
        assert r.rejected == ["refusal"], answer


def test_junk_is_rejected_with_reasons():
    answer = "```\n<div>notes</div>\n***\n- " + "and then " * 60 + "\n- ok\n"
    r = parse_bullets(answer)
    assert r.bullets == []
    assert r.rejected_counts == {"markup": 3, "run_on": 1, "too_short": 1}
    assert len("and then " * 60) > MAX_BULLET_CHARS


def test_empty_answer_is_nothing_new():
    r = parse_bullets("")
    assert r.bullets == [] and r.rejected == []


def test_framing_lines_and_entities():
    r = parse_bullets("Here are the new notes:\n- Customer paid &lt;$50 &amp; wants refund\n")
    assert r.bullets == ["Customer paid <$50 & wants refund"]


def test_strip_echo():
    prompt = "INSTRUCTIONS\n<notes>\n- a\n\n"
    assert strip_echo(prompt + "- b\n", prompt) == "- b\n"
    # servers that trim the prompt's trailing whitespace before echoing it
    assert strip_echo("INSTRUCTIONS\n<notes>\n- a\n- b\n", prompt) == "\n- b\n"
    assert strip_echo("- b\n", prompt) == "- b\n"
