"""Entry point of the worker process (``casenotes worker``)."""
from __future__ import annotations

import sys

from casenotes.processors.broker import StartupError, check_broker_reachable, check_local_state, ensure_topics
from casenotes.settings import Settings


def reset_local_state(settings: Settings) -> None:
    """Delete the worker's local RocksDB tables. For the in-memory embedded broker only: its
    topics start empty on every run, so table state kept from an earlier run would describe
    cases the new broker has never seen. (On real Kafka the changelogs are the truth and
    local state is just a cache that Faust reconciles; never needed there.)"""
    import shutil

    shutil.rmtree(settings.data_path / "faust", ignore_errors=True)


def preflight(settings: Settings, reset_state: bool = False) -> None:
    """What must hold before Faust starts; raises ``StartupError`` naming what to fix."""
    if reset_state:
        if not settings.embedded_broker:
            raise StartupError("--reset-state is for the embedded development broker only "
                               "(CASENOTES_EMBEDDED_BROKER=true); on real Kafka the local state is rebuilt from "
                               f"the changelog topics: stop the worker and delete {settings.data_path / 'faust'}")
        reset_local_state(settings)
    check_broker_reachable(settings)
    ensure_topics(settings, timeout=10.0)
    check_local_state(settings)


def run_worker(loglevel: str = "info", reset_state: bool = False, settings: Settings | None = None) -> None:
    from casenotes.processors.app import create_app

    settings = settings or Settings.from_env()
    try:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        preflight(settings, reset_state)
    except StartupError as exc:
        print(f"casenotes worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    worker = create_app(settings)
    sys.argv = ["casenotes", "worker", "--loglevel", loglevel, "--web-port", str(settings.web_port)]
    worker.app.main()
