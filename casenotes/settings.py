"""One settings object for the whole system, read from ``CASENOTES_*`` environment variables.

Every field has a default that runs the embedded development stack. ``casenotes settings``
prints the table (also reproduced in the README).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from casenotes.engines.factory import CLASSIFIER_REGISTRY, ENGINE_REGISTRY

PREFIX = "CASENOTES_"


def _env_name(name: str) -> str:
    return PREFIX + name.upper()


@dataclass(frozen=True)
class Settings:
    # --- Kafka ---------------------------------------------------------------------------
    broker: str = field(default="kafka://127.0.0.1:9092", metadata={"help": "Kafka bootstrap URL(s), Faust style (kafka://h1:9092;h2:9092)."})
    embedded_broker: bool = field(default=True, metadata={"help": "The broker is the embedded tansu (dev only): enables its workarounds. Set false for real Kafka."})
    topic_prefix: str = field(default="casenotes.", metadata={"help": "Prefix of every topic name."})
    topic_partitions: int = field(default=4, metadata={"help": "Partitions of the case-keyed topics (all co-partitioned)."})
    topic_replicas: int = field(default=1, metadata={"help": "Replication factor of the topics the worker creates."})
    retention_hours: int = field(default=168, metadata={"help": "Retention of the input, notes and dead-letter topics."})
    session_timeout_s: float = field(default=6.0, metadata={"help": "Consumer session timeout (tansu holds JoinGroup ~half of it)."})
    schema_registry_url: str = field(default="", metadata={"help": "Confluent Schema Registry URL; empty: Avro single-object encoding."})
    # --- Worker --------------------------------------------------------------------------
    app_id: str = field(default="casenotes", metadata={"help": "Faust app id (consumer group, changelog topic prefix)."})
    data_dir: str = field(default=".casenotes", metadata={"help": "Worker state: RocksDB tables, the SQLite edit log, model cache."})
    store: str = field(default="rocksdb://", metadata={"help": "Faust table store (rocksdb:// or memory://)."})
    web_port: int = field(default=6066, metadata={"help": "Worker HTTP port: notes per case, /metrics, the page."})
    max_cases_in_flight: int = field(default=64, metadata={"help": "Engine calls in flight at once (one per case). With a ~600 ms LLM, N calls in flight cap a worker at ~N/0.6 calls/s."})
    max_text_chars: int = field(default=8000, metadata={"help": "Longer messages go to the dead-letter topic."})
    max_history: int = field(default=400, metadata={"help": "Messages kept per case in the state table."})
    retry_initial_s: float = field(default=0.5, metadata={"help": "First retry delay after an engine failure (doubles, with jitter)."})
    retry_max_s: float = field(default=30.0, metadata={"help": "Longest retry delay."})
    # --- Engines -------------------------------------------------------------------------
    engine: str = field(default="extractive", metadata={"help": f"Summarization engine: {' | '.join(ENGINE_REGISTRY.names)}."})
    engine_processes: int = field(default=0, metadata={"help": "Child processes that run a CPU-bound engine (extractive) and the note guards off the worker's event loop; 0: in the loop. LLM engines ignore it."})
    classifier: str = field(default="onnx", metadata={"help": f"Relevance classifier: {' | '.join(CLASSIFIER_REGISTRY.names)}."})
    classifier_model: str = field(default="", metadata={"help": "Directory of the ONNX classifier; empty: the bundled default."})
    classifier_threshold: float = field(default=0.5, metadata={"help": "Keep a bullet when P(not other) >= this."})
    classifier_providers: str = field(default="CUDAExecutionProvider,CPUExecutionProvider", metadata={"help": "onnxruntime providers, in order of preference."})
    classifier_threads: int = field(default=2, metadata={"help": "onnxruntime intra-op threads on CPU."})
    classifier_max_batch: int = field(default=32, metadata={"help": "Most bullets scored in one classifier run (bullets of concurrent cases are batched)."})
    classifier_batch_wait_ms: float = field(default=1.0, metadata={"help": "How long the classifier waits to gather bullets of other cases into a batch."})
    triton_url: str = field(default="127.0.0.1:8001", metadata={"help": "Triton endpoint host:port (gRPC 8001, HTTP 8000)."})
    triton_protocol: str = field(default="grpc", metadata={"help": "grpc | http | generate (HTTP generate endpoint)."})
    triton_model: str = field(default="ensemble", metadata={"help": "Triton model name (TensorRT-LLM ensemble)."})
    triton_streaming: bool = field(default=False, metadata={"help": "Use decoupled streaming over gRPC."})
    openai_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible base URL."})
    openai_model: str = field(default="", metadata={"help": "Model name for the OpenAI-compatible engine."})
    openai_api_key: str = field(default="", metadata={"help": "API key (sent as a Bearer token) for the OpenAI-compatible engine."})
    llm_timeout_s: float = field(default=10.0, metadata={"help": "Per-request timeout of LLM calls."})
    llm_max_tokens: int = field(default=256, metadata={"help": "Longest answer requested from the LLM."})
    llm_context_tokens: int = field(default=8192, metadata={"help": "Prompt token budget of the model."})
    llm_tokenizer: str = field(default="", metadata={"help": "Local tokenizer directory for exact token counts; empty: estimate."})
    llm_retries: int = field(default=2, metadata={"help": "Retries per LLM call (exponential backoff, full jitter)."})
    llm_breaker_threshold: int = field(default=5, metadata={"help": "Consecutive LLM failures that open the circuit breaker."})
    llm_breaker_cooldown_s: float = field(default=10.0, metadata={"help": "Seconds before a half-open probe after the circuit opens."})
    openai_continuation: bool = field(default=False, metadata={"help": "Send accepted bullets as an assistant message to continue (vLLM continue_final_message)."})
    llm_concurrency: int = field(default=64, metadata={"help": "LLM requests in flight at once (keep >= CASENOTES_MAX_CASES_IN_FLIGHT)."})
    notes_language: str = field(default="", metadata={"help": "Force the notes language (en, fr, es); empty: the conversation's."})
    # --- Privacy -------------------------------------------------------------------------
    redact: str = field(default="off", metadata={"help": "Replace e-mails, phone numbers, card numbers and IBANs by per-case placeholders ([EMAIL_1]): off; engine: in what engines and LLM servers see, hence in the notes; engine+log: also in the edit log."})
    redact_keep_originals: bool = field(default=False, metadata={"help": "Keep placeholder -> original value in the case state (reversible for the agent's screen); false: only salted digests."})
    # --- Evaluation judge (casenotes eval) ---------------------------------------------
    judge_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "Judge endpoint: OpenAI-compatible base URL, or Triton host:port with --judge triton."})
    judge_model: str = field(default="", metadata={"help": "Judge model name (OpenAI model, or Triton model; empty: ensemble for Triton)."})
    judge_api_key: str = field(default="", metadata={"help": "API key (Bearer token) for an OpenAI-compatible judge."})
    judge_triton_protocol: str = field(default="grpc", metadata={"help": "Protocol of a Triton judge: grpc | http | generate."})
    # --- Edit log ------------------------------------------------------------------------
    editlog: str = field(default="sqlite", metadata={"help": "Edit log store: sqlite | cassandra."})
    sqlite_path: str = field(default="", metadata={"help": "SQLite edit-log file; empty: <data_dir>/editlog.sqlite3."})
    cassandra_contact_points: str = field(default="", metadata={"help": "Comma-separated Cassandra hosts (also read from CASSANDRA_CONTACT_POINTS)."})
    cassandra_keyspace: str = field(default="casenotes", metadata={"help": "Cassandra keyspace."})
    cassandra_port: int = field(default=9042, metadata={"help": "Cassandra native port."})

    # ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(raw, hints[f.name], f.name)
        if not values.get("cassandra_contact_points") and env.get("CASSANDRA_CONTACT_POINTS"):
            values["cassandra_contact_points"] = env["CASSANDRA_CONTACT_POINTS"]
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def sqlite_file(self) -> Path:
        return Path(self.sqlite_path) if self.sqlite_path else self.data_path / "editlog.sqlite3"

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL as a plain host:port list for confluent-kafka."""
        return ",".join(u.split("://", 1)[-1] for u in self.broker.replace(";", ",").split(","))

    def to_env(self) -> dict[str, str]:
        """These settings as CASENOTES_* variables (to configure a child process)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[_env_name(f.name)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
        return out

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """(env name, default, help) rows for docs and ``casenotes settings``."""
        return [(_env_name(f.name), repr(f.default), f.metadata.get("help", "")) for f in fields(cls)]


def _parse(raw: str, typ: Any, name: str) -> Any:
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
        return raw
    except ValueError:
        raise ValueError(f"{_env_name(name)}={raw!r} is not a valid {getattr(typ, '__name__', typ)}") from None
