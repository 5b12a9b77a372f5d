"""The Triton engine against the REAL dev Triton server (PyTriton's tritonserver on CPU)."""
import asyncio
import dataclasses
from pathlib import Path

import pytest

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.devserver import DevTritonProcess, free_port
from casenotes.engines.llm.engine import LLMOptions
from casenotes.engines.llm.prompt import ANSWER_HEADER
from casenotes.engines.llm.resilience import ModelNotReady
from casenotes.engines.llm.triton import TritonEngine
from casenotes.settings import Settings
from llm_cases import FOLLOW_UP, OPENING, SLOW_S, bullet, view

pytestmark = pytest.mark.integration

PROTOCOLS = [("http", False), ("grpc", False), ("grpc", True), ("generate", False)]


def engine_for(server, protocol="grpc", streaming=False, model="ensemble", **kw):
    url = server.grpc_url if protocol == "grpc" else server.http_url
    opts = kw.pop("options", LLMOptions(timeout_s=5.0, retries=1))
    return TritonEngine(url, model=model, protocol=protocol, streaming=streaming, options=opts, **kw)


@pytest.mark.parametrize("protocol,streaming", PROTOCOLS, ids=["http", "grpc", "grpc-stream", "generate"])
async def test_notes_over_every_protocol(dev_triton, protocol, streaming):
    engine = engine_for(dev_triton, protocol, streaming)
    await engine.start()
    try:
        assert engine.model_version == "ensemble:1"
        bullets = await engine.propose(view(OPENING))
    finally:
        await engine.close()
    # What the dev "LLM" writes is the extractive engine's choice; the facts must come through.
    joined = " ".join(bullets)
    assert bullets and "A-99812" in joined and "14 March" in joined
    assert engine.last_prompt.completion_text().endswith(f"{ANSWER_HEADER}\n")


async def test_from_settings_and_start_log(dev_triton, caplog):
    settings = Settings.from_env(env={}, engine="triton", triton_url=dev_triton.http_url, triton_protocol="http",
                                 llm_timeout_s=4.0, llm_max_tokens=128, llm_concurrency=3)
    engine = TritonEngine.from_settings(settings)
    assert (engine.options.timeout_s, engine.options.max_tokens, engine.options.concurrency) == (4.0, 128, 3)
    with caplog.at_level("INFO", logger="casenotes.engines"):
        await engine.start()
    await engine.close()
    assert any("triton" in r.getMessage() and dev_triton.http_url in r.getMessage() and "ensemble" in r.getMessage()
               for r in caplog.records)


async def test_second_call_continues_after_accepted_and_edited_bullets(dev_triton):
    engine = engine_for(dev_triton, "grpc")
    await engine.start()
    try:
        first = await engine.propose(view(OPENING))
        # The agent edits the second bullet; both are accepted. Two new messages arrive.
        accepted = [bullet(0, first[0]), bullet(1, "Agent: carrier says delivered 14 March (disputed)", edited=True)]
        second = await engine.propose(view(OPENING + FOLLOW_UP, accepted, covered=2))
        sent = engine.last_prompt.completion_text()
    finally:
        await engine.close()
    assert sent.endswith(f"{ANSWER_HEADER}\n- {first[0]}\n- Agent: carrier says delivered 14 March (disputed)\n")
    assert engine.last_prompt.user.count('new="yes"') == 2
    assert second and ("4417" in " ".join(second) or "CL-5531" in " ".join(second))
    assert not {b.lower() for b in second} & {b.lower() for b in first}
    assert "14 March" not in " ".join(second)  # old turns are context, not news


async def test_echoed_prompt_is_stripped(dev_triton):
    # Without exclude_input_in_output the (TensorRT-LLM-like) server returns prompt + completion.
    engine = engine_for(dev_triton, "http", exclude_input_in_output=False)
    await engine.start()
    try:
        bullets = await engine.propose(view(OPENING))
    finally:
        await engine.close()
    assert engine.last_answer.startswith(engine.last_prompt.completion_text())
    assert bullets and "A-99812" in " ".join(bullets) and engine.answer_stats.rejected == {}


async def test_malformed_output_gives_no_bullets_and_is_counted(dev_triton):
    engine = engine_for(dev_triton, "grpc", model="ensemble_malformed")
    await engine.start()
    try:
        assert await engine.propose(view(OPENING)) == []
    finally:
        await engine.close()
    assert engine.answer_stats.empty_answers == 1
    assert engine.answer_stats.rejected == {"markup": 3, "refusal": 1, "run_on": 1}


@pytest.mark.parametrize("protocol", ["http", "grpc", "generate"])
async def test_slow_server_times_out(dev_triton, protocol):
    engine = engine_for(dev_triton, protocol, model="ensemble_slow",
                        options=LLMOptions(timeout_s=0.5, retries=0))
    await engine.start()
    try:
        with pytest.raises(EngineError, match="timed out after 0.5s"):
            await engine.propose(view(OPENING))
    finally:
        await engine.close()
    assert engine.resilience.stats.timeouts == 1
    await asyncio.sleep(SLOW_S)  # let the slow model drain before the next test uses it


async def test_unknown_model_is_a_clear_start_error(dev_triton):
    engine = engine_for(dev_triton, "grpc", model="no_such_model")
    with pytest.raises(EngineError, match=rf"{dev_triton.grpc_url}.*no_such_model"):
        await engine.start()


async def test_server_down_at_start_names_url_and_model():
    url = f"127.0.0.1:{free_port()}"
    engine = TritonEngine(url, protocol="http", options=LLMOptions(timeout_s=2.0))
    with pytest.raises(EngineUnavailable, match=rf"{url}.*'ensemble'"):
        await engine.start()


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="choose one of"):
        TritonEngine("127.0.0.1:8001", protocol="websocket")
    with pytest.raises(ValueError, match="needs CASENOTES_TRITON_PROTOCOL=grpc"):
        TritonEngine("127.0.0.1:8000", protocol="http", streaming=True)


def repository_token(server) -> str:
    """PyTriton restricts the model-repository API to a random token it passes to tritonserver on
    its command line: read it there (test-only) to unload a model like an operator would."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any("tritonserver" in a for a in args[:1]) and str(server.http_port) in args:
            for a in args:
                if "triton-access-token=" in a:
                    return a.rsplit("triton-access-token=", 1)[1]
    pytest.skip("tritonserver's repository access token not found in /proc (not Linux?)")


@pytest.mark.slow
async def test_unload_is_transient_and_recovery_is_one_probe(tmp_path):
    """Finding 11.3 on the real server. Unloading the model makes Triton answer NOT_FOUND "has no
    available versions": retried and counted by the circuit (was: permanent, and a success for the
    breaker). Then Triton is stopped and started again: every waiting case goes ahead within one
    cool-down, and the gRPC engine's probe reconnects (was: the cached channel error failed it)."""
    import tritonclient.http.aio as httpclient

    server = DevTritonProcess(str(tmp_path / "triton.log")).start()
    opts = LLMOptions(timeout_s=3.0, retries=2, breaker_threshold=3, breaker_cooldown_s=1.0)
    engines = [engine_for(server, "http", options=opts), engine_for(server, "grpc", options=opts)]
    repo = httpclient.InferenceServerClient(server.http_url)
    try:
        for e in engines:
            await e.start()
            assert await e.propose(view(OPENING))
        await repo.unload_model("ensemble", headers={"triton-access-token": repository_token(server)})
        for e in engines:
            with pytest.raises(ModelNotReady, match="no available versions"):
                await e.propose(view(OPENING))
            assert e.resilience.stats.attempts == 4 and e.resilience.breaker.state == "open", e.protocol
        server.stop()
        for e in engines:
            e.resilience.wait_open_s = 0.5  # do not wait for a probe that cannot succeed
            with pytest.raises(EngineUnavailable):
                await e.propose(view(OPENING))
            e.resilience.wait_open_s = 10.0
        await asyncio.sleep(1.5)  # the gRPC channel is now backing off its reconnection
        server.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(*(e.propose(view(OPENING, case_id=f"c{i}")) for e in engines for i in range(10)))
        elapsed = loop.time() - started
        assert all(results) and elapsed < 3.0, elapsed  # one cool-down (1 s) + one probe, for all 20 cases
        assert all(e.resilience.breaker.state == "closed" for e in engines)
    finally:
        await repo.close()
        for e in engines:
            await e.close()
        server.stop()


@pytest.mark.slow
async def test_outage_retries_circuit_and_recovery(tmp_path):
    """Server up -> notes; server stopped -> EngineUnavailable after retries, then the circuit
    opens and calls are refused without touching the network; server back -> notes again."""
    server = DevTritonProcess(str(tmp_path / "triton.log")).start()
    opts = LLMOptions(timeout_s=3.0, retries=2, breaker_threshold=6, breaker_cooldown_s=1.0)
    engines = [engine_for(server, "http", options=opts), engine_for(server, "grpc", options=opts)]
    try:
        for e in engines:
            await e.start()
            e.resilience.wait_open_s = 0  # refuse at once while open (waiting is tested above)
            assert await e.propose(view(OPENING))
        server.stop()
        for e in engines:
            with pytest.raises(EngineUnavailable):
                await e.propose(view(OPENING))  # 3 attempts
            assert e.resilience.stats.retries == 2
            with pytest.raises(EngineUnavailable):
                await e.propose(view(OPENING))  # 3 more: the 6th opens the circuit
            assert e.resilience.breaker.state == "open"
            attempts = e.resilience.stats.attempts
            with pytest.raises(EngineUnavailable, match="circuit open"):
                await e.propose(view(OPENING))
            assert e.resilience.stats.attempts == attempts  # refused without a request
        server.start()
        await asyncio.sleep(1.0)  # the cool-down: the next call is the half-open probe
        for e in engines:
            bullets = await e.propose(view(OPENING))
            assert bullets, e.protocol
            assert e.resilience.breaker.state == "closed"
    finally:
        for e in engines:
            await e.close()
        server.stop()
