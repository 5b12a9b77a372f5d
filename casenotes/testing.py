"""Testing helpers shipped with the package: a worker process you can kill, a notes reader,
and waits on the worker's HTTP API. Used by the project's integration tests and the demo;
useful for anyone testing a deployment end to end.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import Consumer, TopicPartition

from casenotes.schemas import make_codec
from casenotes.settings import Settings


class WorkerProcess:
    """``casenotes worker`` as a child process, configured by ``settings``."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log_path = Path(log_path)
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def start(self, ready_timeout: float = 90.0) -> "WorkerProcess":
        env = {**os.environ, **self.settings.to_env(), **self.extra_env, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "casenotes", "worker"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                get_json(f"{self.base_url}/cases/", timeout=1)
                return
            except (OSError, ValueError):
                time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — a crash."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def case(self, case_id: str) -> dict[str, Any] | None:
        try:
            return get_json(f"{self.base_url}/cases/{case_id}/")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def wait_covered(self, case_id: str, n_messages: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until notes cover the first ``n_messages`` messages of the case."""
        return wait_for(lambda: (c := self.case(case_id)) and c["covered"] >= n_messages and c, timeout,
                        f"case {case_id} covered up to {n_messages} messages", self.log_tail)


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def get_metrics(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as resp:
        return resp.read().decode()


def wait_for(probe: Callable[[], Any], timeout: float, what: str, context: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f"\n{context()}" if context else ""))
        time.sleep(0.2)


class TopicReader:
    """Reads a whole topic from the beginning (all partitions), decoding Avro values."""

    def __init__(self, settings: Settings, topic: str, schema: str | None = None) -> None:
        self.settings = settings
        self.topic = settings.topic(topic)
        self.schema = schema
        self.codec = make_codec(settings.schema_registry_url)
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"reader-{time.time_ns()}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        meta = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        self.consumer.assign([TopicPartition(self.topic, p, 0) for p in meta.partitions])
        self.records: list[dict[str, Any]] = []

    def poll(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        new = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            rec = self.codec.decode(msg.value(), self.schema) if self.schema else {"value": msg.value()}
            rec["_partition"], rec["_offset"] = msg.partition(), msg.offset()
            new.append(rec)
        self.records.extend(new)
        return new

    def wait_until(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: condition not met after {timeout}s ({len(self.records)} records)")
            self.poll(0.3)
        return self.records

    def close(self) -> None:
        self.consumer.close()


_CUSTOMER_LINES = (
    "My order {n} arrived damaged, the box was crushed and the screen is cracked.",
    "I was charged twice for order {n}, once on the 3rd and again on the 5th.",
    "I already restarted the router {n} times and the connection still drops every hour.",
    "The tracking number TRK{n} says delivered but nothing was at my door.",
    "Can you send the replacement to 12 Rue de la Paix instead, apartment {n}?",
    "My email is customer{n}@example.com and my phone is 555-01{n:02d}.",
    "ok thanks",
)
_AGENT_LINES = (
    "I'm sorry to hear that. Could you give me the order number?",
    "I have issued a refund of ${n}.00 to your card; it takes 3-5 business days.",
    "I have created a replacement order R{n} with express shipping at no cost.",
    "Could you try resetting the device to factory settings and tell me what you see?",
    "Please hold on while I check with the warehouse.",
    "I escalated ticket T{n} to our network team; they will call you within 24 hours.",
)


def synthetic_case(case_id: str, n_messages: int, text_chars: int | None = None, channel: str = "chat") -> Any:
    """A long support conversation (deterministic): customer and agent alternate with issues,
    identifiers, actions and small talk. ``text_chars`` pads every message to that length
    (long emails / call segments)."""
    from casenotes.casefile import CaseFile
    from casenotes.model import CaseMetadata, Message

    events = []
    for i in range(n_messages):
        role = "customer" if i % 2 == 0 else "agent"
        lines = _CUSTOMER_LINES if role == "customer" else _AGENT_LINES
        text = lines[(i // 2) % len(lines)].format(n=i)
        if text_chars:
            filler = f" Additional details for message {i}: " + " ".join(
                f"the item {i}-{k} was listed in the invoice and checked" for k in range(text_chars // 50 + 1))
            text = (text + filler)[:text_chars]
        ts = f"2026-01-01T{10 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        events.append(Message(f"{case_id}-m{i}", channel, role, text, ts,
                              agent_id="agent-1" if role == "agent" else None, language="en"))
    return CaseFile(case_id, CaseMetadata(customer={"name": "Sam"}, attributes={"queue": "orders"}), tuple(events))
