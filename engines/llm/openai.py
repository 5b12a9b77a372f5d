"""Summarization over an OpenAI-compatible chat completions API (vLLM, llama.cpp server, Ollama,
hosted APIs): ``POST {base_url}/chat/completions`` with aiohttp.

Prefix prompting on chat endpoints:
  * ``continuation=True``: the accepted bullets are a final *assistant* message that the server
    continues. vLLM does this with ``continue_final_message: true, add_generation_prompt: false``
    (sent in the request body, the "extra body" of the OpenAI SDK); servers that do not know these
    fields may ignore them and start a fresh answer, which the parser tolerates (echoes dropped).
  * ``continuation=False`` (default, works everywhere): the bullets go into the user message as
    "notes so far" and the model answers with the new bullets only.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.engine import LLMOptions, PrefixPromptEngine
from casenotes.engines.llm.prompt import Prompt
from casenotes.engines.llm.resilience import PermanentError


class OpenAIEngine(PrefixPromptEngine):
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "", options: LLMOptions | None = None,
                 continuation: bool = False, temperature: float = 0.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"CASENOTES_OPENAI_BASE_URL={base_url!r} must start with http:// or https://")
        if not model:
            raise ValueError("CASENOTES_OPENAI_MODEL is empty: name the model the server serves")
        super().__init__(options or LLMOptions(), base_url.rstrip("/"), model)
        self.api_key = api_key
        self.continuation = continuation
        self.temperature = temperature
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "OpenAIEngine":
        # openai_continuation is not a Settings field yet; until it is, prefix continuation is opt-in
        # through the constructor.
        kwargs.setdefault("continuation", bool(getattr(settings, "openai_continuation", False)))
        return cls(settings.openai_base_url, settings.openai_model, settings.openai_api_key,
                   options=LLMOptions.from_settings(settings), **kwargs)

    @property
    def url(self) -> str:
        return f"{self.endpoint}/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def connected(self) -> bool:
        return self._session is not None

    async def start(self) -> None:
        # aiohttp's default connector allows 100 connections: it would cap LLM calls below
        # CASENOTES_LLM_CONCURRENCY (the resilience layer's semaphore is the one limit).
        connector = aiohttp.TCPConnector(limit=max(100, self.options.concurrency), limit_per_host=0)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
                                              headers=self._headers(), connector=connector)
        where = f"OpenAI-compatible server at {self.endpoint}, model {self.model!r}"
        try:
            await asyncio.wait_for(self._check_ready(), self.options.timeout_s)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, EngineError) as exc:
            await self.close()
            if isinstance(exc, asyncio.TimeoutError):
                raise EngineUnavailable(f"{where}: no answer within {self.options.timeout_s}s") from None
            if isinstance(exc, EngineError):
                raise type(exc)(f"{where}: {exc}") from exc
            raise EngineUnavailable(f"{where}: cannot connect ({exc})") from exc
        self._log_start(f" (prefix as {'assistant continuation' if self.continuation else 'notes so far'})")

    async def _check_ready(self) -> None:
        """``GET /models`` lists what the server serves; a missing model is a configuration error.
        Servers without the listing (404/405) are accepted: the first request will tell."""
        async with self._session.get(f"{self.endpoint}/models") as r:
            if r.status in (404, 405):
                return
            if r.status in (401, 403):
                raise PermanentError(f"HTTP {r.status}: check CASENOTES_OPENAI_API_KEY")
            if r.status != 200:
                raise EngineUnavailable(f"GET /models answered HTTP {r.status}")
            data = await r.json(content_type=None)
        ids = [m.get("id") for m in (data.get("data") or []) if isinstance(m, dict)]
        if ids and self.model not in ids:
            raise PermanentError(f"model not served (the server has: {', '.join(map(str, ids[:10]))})")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sent_text(self, prompt: Prompt) -> str:
        # A continuing server may repeat the assistant prefix before the new bullets.
        return prompt.answer_prefix if self.continuation else ""

    def request_body(self, prompt: Prompt) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": prompt.chat_messages(self.continuation),
                                "max_tokens": self.options.max_tokens, "temperature": self.temperature,
                                "stream": False}
        if self.continuation and prompt.answer_prefix:
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    async def _generate(self, prompt: Prompt) -> str:
        if self._session is None:
            raise EngineError("OpenAIEngine used before start()")
        try:
            async with self._session.post(self.url, json=self.request_body(prompt)) as r:
                payload = await r.text()
                status = r.status
        except asyncio.TimeoutError:
            raise  # (an OSError in 3.11) the resilience layer reports it as a timeout
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise EngineUnavailable(f"cannot connect to {self.url}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise EngineError(f"HTTP error from {self.url}: {exc}") from exc
        if status != 200:
            detail = payload[:300]
            if status in (400, 401, 403, 404, 422):
                raise PermanentError(f"HTTP {status} from {self.url}: {detail}")
            if status in (502, 503, 504):
                raise EngineUnavailable(f"HTTP {status} from {self.url}: {detail}")
            raise EngineError(f"HTTP {status} from {self.url}: {detail}")  # 429, 500: retried
        try:
            choice = json.loads(payload)["choices"][0]
            content = choice["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise EngineError(f"unexpected chat completion from {self.url}: {payload[:200]}") from None
        return content or ""  # null content (refusal field, tool call) is no bullets
