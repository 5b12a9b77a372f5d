"""A FAKE judge: an OpenAI-compatible server whose "verdicts" are word-overlap heuristics.

    *** NOT AN LLM. NOT A MEASUREMENT. ***
    Its verdicts come from word overlap between the notes and the customer/agent turns and a check
    that every number in the notes occurs in the conversation. It exists so that the judge path
    (prompt, transport, retries, JSON parsing, cache, aggregation, agreement) can be run end to end
    without a model. Scores from it say nothing about note quality: never report them as judge scores.

    python -m casenotes.eval.fakejudge --port 8009      # then --judge openai with
    CASENOTES_JUDGE_URL=http://127.0.0.1:8009/v1 CASENOTES_JUDGE_MODEL=fake-judge

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (non-streaming). It reads the judge
prompt of ``casenotes.eval.judge`` (``<turn>`` blocks and the numbered ``<notes>``).

For tests: every request is recorded in ``server.requests``; a magic marker anywhere in the prompt
changes the answer: ``FAKEJUDGE:BAD_JSON`` (prose, no JSON, always), ``FAKEJUDGE:BAD_JSON_ONCE``
(prose unless the request is the judge's retry), ``FAKEJUDGE:FENCED`` (JSON in a code fence with
prose around, booleans as strings, no confidences). ``bad_json=True`` (``--bad-json``) makes every
answer prose; ``fail_status`` answers every completion with that HTTP status; ``reject_json_mode``
answers HTTP 400 to requests with ``response_format`` (servers without JSON mode).
"""
from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
from typing import Any, Sequence

from aiohttp import web

from casenotes.eval.judge import COMPLETENESS, RETRY_NOTE, TRUTHFULNESS

MODEL = "fake-judge"
BANNER = "FAKE JUDGE: word-overlap heuristics, not an LLM; its scores measure nothing"
_RETRY_MARK = RETRY_NOTE.split("(")[0]

_TURN = re.compile(r'<turn n="\d+" role="(\w+)"[^>]*>\n(.*?)\n</turn>', re.S)
_NOTES = re.compile(r"<notes>\n(.*?)\n</notes>", re.S)
_WORD = re.compile(r"[^\W\d_]{4,}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_STOP = set("""that this with have from your were been will would could should about there their they them what
when which while also into then than just only some more most very much such here where said says told asks
asked please thank thanks hello customer client cliente clienta agent agente dans pour avec vous nous votre sont
être elle mais cette tout para como pero esta este usted todo sobre tiene""".split())
_PROMISE_AGENT = re.compile(r"\b(i'll|i will|we'll|we will|you'll|will be|will receive|should arrive|i'm going to|"
                            r"je vais|sera|vous recevrez|volveré|te voy|le envío|llegará|te llegará)\b", re.I)
_SOLVED_AGENT = re.compile(r"\b(i've|i have|done|refund\w*|credit\w*|released|cancelled|confirmed|waive\w*|"
                           r"j'ai|annulé|validé|avoir|he |desbloquead\w*|envío|reemplazo)", re.I)
_PROMISE_NOTE = re.compile(r"\b(will|promis\w*|within|sera|va |promet\w*|enviará|llegará)\b", re.I)
_CUSTOMER_NOTE = re.compile(r"^(the )?(customer|client|cliente|clienta|la cliente|le client|el cliente|la clienta)\b", re.I)
_AGENT_NOTE = re.compile(r"^(the )?(agent|agente|l'agent|el agente|la agente)\b", re.I)


def _words(text: str) -> set[str]:
    # Crude stemming by prefix: "charged"/"charge", "refunded"/"refund" meet.
    return {w.lower()[:5] for w in _WORD.findall(text) if w.lower() not in _STOP}


def _numbers(text: str) -> set[str]:
    out = set()
    for tok in _NUMBER.findall(text):
        parts = re.split(r"[.,]", tok)
        if len(parts) > 1 and set(parts[-1]) == {"0"}:
            parts = parts[:-1]  # 245,00 == 245
        out.add("".join(parts))
    return out


def read_prompt(user: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(role, text) turns and note texts from the judge's user message."""
    turns = [(role, html.unescape(text)) for role, text in _TURN.findall(user)]
    m = _NOTES.search(user)
    notes = [html.unescape(re.sub(r"^\d+\.\s*", "", line)) for line in (m.group(1).splitlines() if m else [])
             if re.match(r"^\d+\.", line)]
    return turns, notes


def _c(value: bool | None, reason: str, key: str) -> dict[str, Any]:
    return {key: value, "reason": reason, "confidence": 0.5}


def heuristic_verdict(turns: Sequence[tuple[str, str]], notes: Sequence[str]) -> dict[str, Any]:
    cust = [t for r, t in turns if r == "customer"]
    agent = [t for r, t in turns if r == "agent"]
    cw, aw = set().union(*map(_words, cust)), set().union(*map(_words, agent))
    conv_numbers = set().union(*(_numbers(t) for _, t in turns))
    issue_words = set().union(*map(_words, [t for t in cust if len(_words(t)) >= 3][:2]))
    promise_words = set().union(*(_words(t) for t in agent if _PROMISE_AGENT.search(t)))
    solved_words = set().union(*(_words(t) for t in agent if _SOLVED_AGENT.search(t)))

    def covered(target: set[str]) -> bool:
        return any(len(_words(n) & target) >= 2 for n in notes)

    def grounded(n: str) -> float:
        w = _words(n)
        return len(w & (cw | aw)) / len(w) if w else 1.0

    def any_note(pred) -> list[int]:
        return [i for i, n in enumerate(notes, 1) if pred(n)]

    as_customer = lambda n: bool(_CUSTOMER_NOTE.match(n))
    as_agent = lambda n: bool(_AGENT_NOTE.match(n))
    flags = {
        "fake_issue": any_note(lambda n: as_customer(n) and grounded(n) < 0.5),
        "fake_commitment": any_note(lambda n: not as_customer(n) and _PROMISE_NOTE.search(n) and grounded(n) < 0.6),
        "fake_action": any_note(lambda n: as_agent(n) and not _PROMISE_NOTE.search(n) and grounded(n) < 0.5),
        "wrong_role": any_note(lambda n: (as_agent(n) and len(_words(n) & (cw - aw)) >= 2 and not _words(n) & (aw - cw))
                               or (as_customer(n) and len(_words(n) & (aw - cw)) >= 2 and not _words(n) & (cw - aw))),
        "fake_digit": any_note(lambda n: bool(_numbers(n) - conv_numbers)),
    }
    present = {"issue": covered(issue_words),
               "commitment": covered(promise_words) if promise_words else None,
               "solution": covered(solved_words) if solved_words else None}
    completeness = {k: _c(present[k], "word overlap with the relevant turns (fake judge)", "present")
                    for k in COMPLETENESS}
    truthfulness = {k: _c(bool(flags[k]), f"notes {flags[k]} (fake judge heuristic)" if flags[k] else
                          "no note matched the heuristic (fake judge)", "error") for k in TRUTHFULNESS}
    return {"completeness": completeness, "truthfulness": truthfulness}


def answer_for(user: str, bad_json: bool = False) -> str:
    retry = _RETRY_MARK in user
    always_bad = bad_json or re.search(r"FAKEJUDGE:BAD_JSON(?!_ONCE)", user)
    if always_bad or ("FAKEJUDGE:BAD_JSON_ONCE" in user and not retry):
        return "I think these notes look mostly fine, well done."
    verdict = heuristic_verdict(*read_prompt(user))
    if "FAKEJUDGE:FENCED" in user:
        for group in verdict.values():
            for c in group.values():
                c.pop("confidence")
                for k in ("present", "error"):
                    if k in c:
                        c[k] = {True: "true", False: "false", None: "n/a"}[c[k]]
        return f"Here is my evaluation:\n```json\n{json.dumps(verdict, indent=1)}\n```\nHope this helps."
    return json.dumps(verdict)


class FakeJudgeServer:
    """In-process: ``await start()`` (port 0: a free port), ``base_url``, ``requests``, ``await stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, model: str = MODEL, bad_json: bool = False) -> None:
        self.host, self.port, self.model, self.bad_json = host, port, model, bad_json
        self.fail_status: int | None = None
        self.reject_json_mode = False
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def completions(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append({"method": "GET", "path": request.path, "body": None})
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"method": "POST", "path": request.path, "body": body})
        if self.fail_status:
            return web.json_response({"error": {"message": "fake failure"}}, status=self.fail_status)
        if self.reject_json_mode and "response_format" in body:
            return web.json_response({"error": {"message": "response_format is not supported"}}, status=400)
        if body.get("model") != self.model:
            return web.json_response({"error": {"message": f"model {body.get('model')!r} not served"}}, status=404)
        user = "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
        content = answer_for(user, self.bad_json)
        return web.json_response({"id": f"fake-{len(self.requests)}", "object": "chat.completion", "model": self.model,
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]})

    async def start(self) -> "FakeJudgeServer":
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port actually bound (port 0)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _serve(args: argparse.Namespace) -> None:
    server = await FakeJudgeServer(args.host, args.port, args.model, args.bad_json).start()
    print(f"{BANNER}\nserving {server.base_url} (model {args.model!r}); Ctrl-C stops", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m casenotes.eval.fakejudge", description=(
        f"{BANNER}. An OpenAI-compatible stand-in for the LLM judge, to exercise the judge path end to "
        "end without a model. Do not report its scores."))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8009, help="0 picks a free port")
    p.add_argument("--model", default=MODEL, help="model name it serves (CASENOTES_JUDGE_MODEL)")
    p.add_argument("--bad-json", action="store_true", help="answer every request with prose instead of JSON")
    args = p.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
