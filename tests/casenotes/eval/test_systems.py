import pytest

from casenotes.casefile import load_samples
from casenotes.engines.extractive import ExtractiveEngine
from casenotes.engines.relevance.passthrough import PassthroughClassifier
from casenotes.eval.datasets import Dialogue, dialogue_from_turns
from casenotes.eval.systems import Components, chunk_ends, check_system, make_system
from casenotes.model import Message


def _msgs(*word_counts):
    return [Message(f"m{i}", "chat", "customer", " ".join(["w"] * n), "2024-01-01T00:00:00") for i, n in
            enumerate(word_counts)]


def test_chunks_close_at_the_message_that_reaches_the_size():
    assert chunk_ends(_msgs(50, 100, 60, 10, 300, 5), 200) == [3, 5, 6]
    assert chunk_ends(_msgs(10, 10), 200) == [2]
    assert chunk_ends(_msgs(250), 200) == [1]


@pytest.fixture
def parts():
    return Components(ExtractiveEngine(), PassthroughClassifier())


@pytest.fixture
def sample() -> Dialogue:
    case = load_samples()[0]
    return Dialogue(case.case_id, case, (), "en")


async def test_progressive_counts_calls_and_prompt_tokens(parts, sample):
    run = await make_system("progressive", parts).run(sample)
    assert run.notes and 0 < run.engine_calls <= len(sample.turns)
    assert run.prompt_tokens > run.engine_calls * 100  # every call carries instructions and history
    assert len(run.labels) == len(run.notes)


async def test_bulk_is_one_call_and_chunks_append_without_duplicates(parts, sample):
    bulk = await make_system("bulk", parts).run(sample)
    assert bulk.engine_calls == 1 and bulk.notes
    small = await make_system("chunk-40", parts).run(sample)
    assert small.engine_calls > 1
    assert len({n.casefold() for n in small.notes}) == len(small.notes)
    # One progressive call sees the whole history each time: it costs far more prompt tokens than bulk.
    prog = await make_system("progressive", parts).run(sample)
    assert prog.prompt_tokens > 3 * bulk.prompt_tokens


async def test_chunk_with_an_llm_engine_uses_the_segment_prompt(sample):
    seen = []

    class FakeLLM:
        name, model_version = "fake", "0"

        async def start(self): ...

        async def close(self): ...

        async def propose(self, view):
            raise AssertionError("chunk systems must use the segment prompt")

        async def summarize(self, view):
            seen.append((view.covered, len(view.bullets), len(view.history)))
            return [f"Customer said {view.history[0].text[:20]}"]

    run = await make_system("chunk-60", Components(FakeLLM(), PassthroughClassifier())).run(sample)
    assert seen and all(covered == 0 and bullets == 0 for covered, bullets, _ in seen)
    assert sum(n for *_, n in seen) == len(sample.turns)  # every turn in exactly one chunk
    assert run.engine_calls == len(seen)


async def test_baselines_copy_turns():
    d = dialogue_from_turns("d", [{"role": "customer", "text": "My card was charged twice"},
                                  {"role": "agent", "text": "Sorry"},
                                  {"role": "customer", "text": "thanks a lot for all of this help"},
                                  {"role": "agent", "text": "Refund issued today"}])
    assert (await make_system("first-last", None).run(d)).notes == ["My card was charged twice", "Refund issued today"]
    assert (await make_system("first-last-tagged", None).run(d)).notes == [
        "Customer: My card was charged twice", "Agent: Refund issued today"]
    assert (await make_system("lead-2", None).run(d)).notes == ["My card was charged twice", "Sorry"]
    assert (await make_system("longest-2", None).run(d)).notes == [
        "My card was charged twice", "thanks a lot for all of this help"]


@pytest.mark.parametrize("name", ["chunk-0", "chunky", "lead-", "summarise", ""])
def test_unknown_systems_are_refused(name):
    with pytest.raises(ValueError, match="unknown system"):
        check_system(name)


def test_engine_systems_need_an_engine():
    with pytest.raises(ValueError, match="needs an engine"):
        make_system("bulk", None)
