"""The OpenAI-compatible engine against a real HTTP server on 127.0.0.1 (aiohttp) implementing
/v1/models and /v1/chat/completions. Its answers come from the dev note writer (the extractive
engine run on the case parsed out of our prompt), like the dev Triton server."""
import asyncio

import pytest
from aiohttp import web

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.devserver import DevNoteWriter, free_port
from casenotes.engines.llm.engine import LLMOptions
from casenotes.engines.llm.openai import OpenAIEngine
from casenotes.engines.llm.resilience import PermanentError
from casenotes.settings import Settings
from llm_cases import FOLLOW_UP, OPENING, bullet, view

MODEL = "mixtral-8x7b-instruct"


class ChatServer:
    """A small OpenAI-compatible server. ``failures`` is a list of HTTP statuses to answer with
    before answering normally; ``delay_s`` delays every answer; ``echo_prefix`` makes it repeat a
    continued assistant message before the new text."""

    def __init__(self, writer: DevNoteWriter) -> None:
        self.writer = writer
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.failures: list[int] = []
        self.delay_s = 0.0
        self.echo_prefix = False
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            status = self.failures.pop(0)
            return web.json_response({"error": {"message": f"injected {status}"}}, status=status)
        if body.get("model") != MODEL:
            return web.json_response({"error": {"message": "model not found"}}, status=404)
        messages = body["messages"]
        prefix = messages[-1]["content"] if body.get("continue_final_message") else None
        user = next(m["content"] for m in messages if m["role"] == "user")
        content = self.writer.continuation(user, assistant_prefix=prefix)
        if self.echo_prefix and prefix:
            content = prefix + content
        return web.json_response({"id": "cmpl-1", "object": "chat.completion", "model": MODEL,
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]})

    async def start(self) -> "ChatServer":
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture(scope="module")
def writer():
    return DevNoteWriter()


@pytest.fixture
async def server(writer):
    s = await ChatServer(writer).start()
    yield s
    await s.stop()


def engine_for(server, **kw):
    kw.setdefault("options", LLMOptions(timeout_s=3.0, retries=2))
    return OpenAIEngine(server.base_url, MODEL, api_key="sk-test", **kw)


async def test_notes_so_far_mode(server):
    engine = engine_for(server)
    await engine.start()
    try:
        first = await engine.propose(view(OPENING))
        accepted = [bullet(0, first[0]), bullet(1, "Agent: carrier says delivered 14 March (disputed)", edited=True)]
        second = await engine.propose(view(OPENING + FOLLOW_UP, accepted, covered=2))
    finally:
        await engine.close()
    assert first and "A-99812" in " ".join(first)
    assert second and ("4417" in " ".join(second) or "CL-5531" in " ".join(second))
    req = server.requests[-1]
    assert req["model"] == MODEL and req["max_tokens"] == 256 and "continue_final_message" not in req
    assert [m["role"] for m in req["messages"]] == ["system", "user"]
    assert "- Agent: carrier says delivered 14 March (disputed)\n</notes_so_far>" in req["messages"][1]["content"]
    assert server.headers[-1]["Authorization"] == "Bearer sk-test"


async def test_continuation_mode_sends_assistant_prefix_and_strips_its_echo(server):
    server.echo_prefix = True  # a server that repeats the continued message
    engine = engine_for(server, continuation=True)
    await engine.start()
    try:
        accepted = [bullet(0, "Customer reports order A-99812 not received")]
        bullets = await engine.propose(view(OPENING + FOLLOW_UP, accepted, covered=2))
    finally:
        await engine.close()
    req = server.requests[-1]
    assert req["continue_final_message"] is True and req["add_generation_prompt"] is False
    assert req["messages"][-1] == {"role": "assistant", "content": "- Customer reports order A-99812 not received\n"}
    assert bullets and "Customer reports order A-99812 not received" not in bullets
    assert engine.answer_stats.rejected == {}  # the echo was stripped before parsing


async def test_server_errors_are_retried(server):
    server.failures = [500, 503]
    engine = engine_for(server)
    await engine.start()
    try:
        assert await engine.propose(view(OPENING))
    finally:
        await engine.close()
    assert engine.resilience.stats.retries == 2 and len(server.requests) == 3


async def test_bad_request_is_not_retried(server):
    server.failures = [400]
    engine = engine_for(server)
    await engine.start()
    try:
        with pytest.raises(PermanentError, match="HTTP 400"):
            await engine.propose(view(OPENING))
    finally:
        await engine.close()
    assert len(server.requests) == 1


async def test_timeout(server):
    server.delay_s = 1.0
    engine = engine_for(server, options=LLMOptions(timeout_s=0.3, retries=0))
    await engine.start()
    try:
        with pytest.raises(EngineError, match="timed out after 0.3s"):
            await engine.propose(view(OPENING))
    finally:
        await engine.close()


async def test_server_down_circuit_then_recovery(server):
    engine = engine_for(server, options=LLMOptions(timeout_s=2.0, retries=1, breaker_threshold=2, breaker_cooldown_s=0.5))
    await engine.start()
    engine.resilience.wait_open_s = 0  # refuse at once while open (waiting: test_resilience.py)
    try:
        await server.stop()
        with pytest.raises(EngineUnavailable, match="cannot connect"):
            await engine.propose(view(OPENING))
        with pytest.raises(EngineUnavailable, match="circuit open"):
            await engine.propose(view(OPENING))
        await server.start()
        await asyncio.sleep(0.5)
        assert await engine.propose(view(OPENING))
        assert engine.resilience.breaker.state == "closed"
    finally:
        await engine.close()


async def test_start_errors_name_server_and_model(server):
    with pytest.raises(PermanentError, match=rf"{server.base_url}.*'gpt-nope'.*{MODEL}"):
        await OpenAIEngine(server.base_url, "gpt-nope").start()
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailable, match=rf"{down}.*{MODEL}"):
        await OpenAIEngine(down, MODEL, options=LLMOptions(timeout_s=2.0)).start()


def test_from_settings():
    s = Settings.from_env(env={}, engine="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model=MODEL,
                          openai_api_key="k", llm_max_tokens=64, notes_language="fr")
    e = OpenAIEngine.from_settings(s)
    assert (e.url, e.model, e.api_key, e.options.max_tokens, e.options.notes_language) == (
        "http://127.0.0.1:9/v1/chat/completions", MODEL, "k", 64, "fr")
    with pytest.raises(ValueError, match="CASENOTES_OPENAI_MODEL"):
        OpenAIEngine.from_settings(s.replace(openai_model=""))


async def test_server_not_up_at_start_is_connected_on_a_later_call(server):
    """The worker may start before the LLM server: start() fails, later calls connect."""
    await server.stop()
    engine = engine_for(server, options=LLMOptions(timeout_s=2.0, retries=0))
    try:
        with pytest.raises(EngineUnavailable):
            await engine.start()
        with pytest.raises(EngineUnavailable, match="cannot connect"):
            await engine.propose(view(OPENING))  # still down: the case stays pending
        assert not engine.connected
        await server.start()
        assert await engine.propose(view(OPENING))
        assert engine.connected
    finally:
        await engine.close()
