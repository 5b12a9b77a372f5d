"""A development Triton server that really runs here (CPU, PyTriton's bundled ``tritonserver``).

It is a DEVELOPMENT STAND-IN FOR MIXTRAL: it serves models with exactly the TensorRT-LLM ensemble
tensor interface (``text_input``, ``max_tokens``, ``temperature``, ``stop_words``, ``bad_words``,
``exclude_input_in_output``, ``stream`` in; ``text_output`` out), but what "generates" the answer is the
project's extractive engine run on the case parsed back out of our own prompt. So
``--engine triton`` produces meaningful notes end to end without a GPU; the quality is the
extractive engine's, not an LLM's.

Models:
  ``ensemble``         request/response (HTTP, gRPC, and the HTTP generate endpoint);
  ``ensemble_stream``  decoupled: the answer is streamed word by word (gRPC ``stream_infer``).
With ``--test-models`` (used by the test-suite): ``ensemble_slow`` answers after ``--slow-s``
seconds, ``ensemble_malformed`` answers with junk (markup, refusal, a run-on line).

Like TensorRT-LLM, the prompt is echoed before the completion unless ``exclude_input_in_output``
is true.

    casenotes triton-dev --http-port 8000 --grpc-port 8001     (blocks until SIGTERM/SIGINT)
"""
from __future__ import annotations

import argparse
import asyncio
import html
import logging
import os
import re
import signal
import sys
import sysconfig
import threading
import time
from typing import Any, Iterator, Sequence

import numpy as np

from casenotes.engines.llm.prompt import ANSWER_HEADER, LANGUAGE_NAMES, NOTES_SO_FAR_CLOSE, NOTES_SO_FAR_OPEN
from casenotes.model import Bullet, CaseMetadata, CaseView, Message

log = logging.getLogger("casenotes.engines.devserver")

_TURN = re.compile(r'<turn n="(\d+)" channel="([^"]*)" role="([^"]*)" agent="([^"]*)" time="([^"]*)" '
                   r'new="(yes|no)">\n(.*?)\n</turn>', re.DOTALL)
_CASE_ID = re.compile(r'<case id="([^"]*)">')
_LANGUAGE = re.compile(r"^- Write the notes in (\w+)\.$", re.MULTILINE)

MALFORMED_ANSWER = ("<div>notes</div>\n```\nI'm sorry, I can't help with that.\n- "
                    + "and then " * 80 + "\n***\n")


# --- the development "LLM" ------------------------------------------------------------------------
def parse_prompt(text: str, assistant_prefix: str | None = None) -> CaseView:
    """Rebuild the case view from a prompt built by ``casenotes.engines.llm.prompt``."""
    m = _CASE_ID.search(text)
    case_id = html.unescape(m.group(1)) if m else "dev"
    lang = _LANGUAGE.search(text)
    language = {v: k for k, v in LANGUAGE_NAMES.items()}.get(lang.group(1)) if lang else None
    messages, covered = [], None
    for t in _TURN.finditer(text):
        n, channel, role, agent, ts, new, body = t.groups()
        if new == "yes" and covered is None:
            covered = len(messages)
        messages.append(Message(message_id=n, channel=html.unescape(channel), role=html.unescape(role),
                                text=html.unescape(body), ts=html.unescape(ts), agent_id=html.unescape(agent) or None,
                                language=language))
    if assistant_prefix is not None:
        notes_block = assistant_prefix
    elif ANSWER_HEADER + "\n" in text:
        notes_block = text.rsplit(ANSWER_HEADER + "\n", 1)[1]
    elif NOTES_SO_FAR_OPEN + "\n" in text:
        notes_block = text.rsplit(NOTES_SO_FAR_OPEN + "\n", 1)[1].split(NOTES_SO_FAR_CLOSE, 1)[0]
    else:
        notes_block = ""
    bullets = [line[2:].strip() for line in notes_block.splitlines() if line.startswith("- ")]
    return CaseView(case_id=case_id, metadata=CaseMetadata(), history=tuple(messages),
                    bullets=tuple(Bullet(f"{case_id}:{i:04d}", i, b) for i, b in enumerate(bullets)),
                    covered=len(messages) if covered is None else covered)


class DevNoteWriter:
    """Continues the bullet list of a prompt with the extractive engine's proposals."""

    def __init__(self) -> None:
        try:
            from casenotes.engines.extractive import ExtractiveEngine
            self.engine: Any = ExtractiveEngine()
            self.name = "extractive"
        except ImportError:  # the extractive engine is another module of the project; see below
            self.engine = None
            self.name = "first-sentence-fallback"
        # PyTriton calls the model from threads that may already run an event loop: the async
        # engine gets a loop of its own on a private thread.
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="dev-note-writer", daemon=True).start()
        if self.engine is not None and hasattr(self.engine, "start"):
            self._run(self.engine.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def continuation(self, prompt_text: str, assistant_prefix: str | None = None) -> str:
        view = parse_prompt(prompt_text, assistant_prefix)
        if self.engine is not None:
            texts = self._run(self.engine.propose(view))
        else:
            texts = first_sentence_notes(view)
        return "".join(f"- {t}\n" for t in texts)


def first_sentence_notes(view: CaseView) -> list[str]:
    """FALLBACK used only when ``casenotes.engines.extractive`` is missing: the first sentence
    of each substantive new message, attributed. Not a summarizer."""
    out = []
    for m in view.new_messages:
        first = re.split(r"(?<=[.!?])\s+", " ".join(m.text.split()), maxsplit=1)[0]
        if len(first.split()) >= 4 and m.role in ("customer", "agent"):
            out.append(f"{m.role.capitalize()}: {first}")
    return out


def limit_answer(text: str, max_tokens: int, stop_words: Sequence[str]) -> str:
    """Honour ``max_tokens`` (~4 characters a token) and ``stop_words`` like a real server."""
    for stop in stop_words:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text[: max(0, max_tokens) * 4]


# --- the Triton models ----------------------------------------------------------------------------
def _scalar(req: Any, name: str, default: Any) -> Any:
    if name not in req.keys():  # PyTriton requests without @batch have no .get
        return default
    return np.asarray(req[name]).reshape(-1)[0]


def _strings(req: Any, name: str) -> list[str]:
    if name not in req.keys():
        return []
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(req[name]).reshape(-1)]


def _decode_request(req: Any) -> tuple[str, int, list[str], bool]:
    raw = _scalar(req, "text_input", b"")
    prompt = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    return (prompt, int(_scalar(req, "max_tokens", 256)), _strings(req, "stop_words"),
            bool(_scalar(req, "exclude_input_in_output", False)))


def _text_output(text: str) -> dict[str, np.ndarray]:
    return {"text_output": np.array([[text.encode("utf-8")]], dtype=object)}


def make_infer(writer: DevNoteWriter, delay_s: float = 0.0, malformed: bool = False):
    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        if delay_s:
            time.sleep(delay_s)
        out = []
        for req in requests:
            prompt, max_tokens, stops, exclude_input = _decode_request(req)
            answer = MALFORMED_ANSWER if malformed else writer.continuation(prompt)
            answer = limit_answer(answer, max_tokens, stops)
            out.append(_text_output(answer if exclude_input else prompt + answer))
        return out
    return infer


def make_stream_infer(writer: DevNoteWriter):
    """Decoupled: one response per word (with its trailing whitespace), like token streaming.
    Streaming servers send only new text, so the prompt is never echoed here."""
    def infer(requests: list[Any]) -> Iterator[list[dict[str, np.ndarray]]]:
        pieces = []
        for req in requests:
            prompt, max_tokens, stops, _ = _decode_request(req)
            pieces.append(re.findall(r"\S+\s*|\s+", limit_answer(writer.continuation(prompt), max_tokens, stops)))
        for step in range(max((len(p) for p in pieces), default=0)):
            yield [_text_output(p[step] if step < len(p) else "") for p in pieces]
    return infer


def _tensors():
    from pytriton.model_config import Tensor

    inputs = [
        Tensor(name="text_input", dtype=bytes, shape=(1,)),
        Tensor(name="max_tokens", dtype=np.int32, shape=(1,)),
        Tensor(name="temperature", dtype=np.float32, shape=(1,), optional=True),
        Tensor(name="stop_words", dtype=bytes, shape=(-1,), optional=True),
        Tensor(name="bad_words", dtype=bytes, shape=(-1,), optional=True),
        Tensor(name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True),
        Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
    ]
    return inputs, [Tensor(name="text_output", dtype=bytes, shape=(-1,))]


def build_triton(http_port: int, grpc_port: int, metrics_port: int = 0, test_models: bool = False,
                 slow_s: float = 5.0, workspace: str | None = None, exit_timeout_s: int = 3):
    """A configured (not yet started) ``pytriton.triton.Triton`` with the dev models bound."""
    # The python-backend stubs link libpython: under pyenv they need its directory (see docs).
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and libdir not in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        os.environ["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p)
    from pytriton.model_config import ModelConfig
    from pytriton.triton import Triton, TritonConfig

    config = TritonConfig(http_port=http_port, grpc_port=grpc_port, allow_metrics=bool(metrics_port),
                          metrics_port=metrics_port or None, exit_on_error=True,
                          # tritonserver waits this long for open client connections when stopping
                          # (default 30 s): clients keep connections alive, so a dev server would hang.
                          exit_timeout_secs=exit_timeout_s)
    triton = Triton(config=config, workspace=workspace)
    writer = DevNoteWriter()
    log.info("dev Triton: notes written by the %s engine (development stand-in for Mixtral)", writer.name)
    inputs, outputs = _tensors()
    batched = ModelConfig(batching=True, max_batch_size=8)
    triton.bind("ensemble", [make_infer(writer), make_infer(writer)], inputs, outputs, config=batched)
    triton.bind("ensemble_stream", make_stream_infer(writer), inputs, outputs,
                config=ModelConfig(batching=True, max_batch_size=8, decoupled=True))
    if test_models:
        triton.bind("ensemble_slow", make_infer(writer, delay_s=slow_s), inputs, outputs, config=batched)
        triton.bind("ensemble_malformed", make_infer(writer, malformed=True), inputs, outputs, config=batched)
    return triton


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casenotes triton-dev", description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=0, help="0: no metrics endpoint")
    parser.add_argument("--test-models", action="store_true", help="also serve ensemble_slow and ensemble_malformed")
    parser.add_argument("--slow-s", type=float, default=5.0, help="delay of ensemble_slow")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    triton = build_triton(args.http_port, args.grpc_port, args.metrics_port, args.test_models, args.slow_s)
    try:
        try:
            triton.run()
        except Exception as exc:  # ports in use, libpython not found, a model failing to load
            log.error("dev Triton failed to start on HTTP %d / gRPC %d: %s (see the tritonserver log above)",
                      args.http_port, args.grpc_port, exc)
            return 2
        log.info("dev Triton ready: HTTP 127.0.0.1:%d, gRPC 127.0.0.1:%d", args.http_port, args.grpc_port)
        print(f"READY http={args.http_port} grpc={args.grpc_port}", flush=True)
        while not stop.wait(1.0):
            if not triton.is_alive():
                log.error("dev Triton died")
                return 1
    finally:
        try:
            triton.stop()
        except Exception as exc:  # a server that never came up cannot be asked to unload models
            log.warning("dev Triton stop: %s", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --- a stoppable dev server process (tests, demos) -------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevTritonProcess:
    """``python -m casenotes.engines.llm.devserver`` as a child process that can be stopped and
    started again on the same ports (to test outages and recovery)."""

    def __init__(self, log_path: str, http_port: int | None = None, grpc_port: int | None = None,
                 test_models: bool = False, slow_s: float = 5.0) -> None:
        self.log_path = log_path
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.test_models = test_models
        self.slow_s = slow_s
        self.proc: Any = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 120.0, attempts: int = 2) -> "DevTritonProcess":
        """Start and wait for READY. PyTriton's model-proxy handshake occasionally fails right
        after a previous server on the same ports went away (seen on 2-core machines); one
        retry covers it, a second failure raises with the log tail."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                if attempt == attempts:
                    raise
                log.warning("dev Triton failed to start (attempt %d), retrying", attempt)
                self.stop()  # reap what the failed attempt left in its process group
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "DevTritonProcess":
        import subprocess

        args = [sys.executable, "-m", "casenotes.engines.llm.devserver", "--http-port", str(self.http_port),
                "--grpc-port", str(self.grpc_port), "--slow-s", str(self.slow_s)]
        if self.test_models:
            args.append("--test-models")
        with open(self.log_path, "ab") as log_file:
            start_offset = log_file.tell()
            self.proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(start_offset)
                if b"READY http=" in f.read():
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"dev Triton exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"dev Triton not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the server (it unloads the models and stops tritonserver), SIGKILL if stuck."""
        import subprocess

        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # PyTriton's Python-backend stubs outlive the server (re-parented to init, ~50 MB each);
        # they are still in the server's process group, which start() made its own.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "DevTritonProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
