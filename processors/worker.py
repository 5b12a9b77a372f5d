"""Entry point of the worker process (``casenotes worker``)."""
from __future__ import annotations

import sys

from casenotes.processors.app import app, settings
from casenotes.processors.broker import ensure_topics


def load() -> None:
    """Import the modules that declare agents, tables and pages on the app."""
    from casenotes.processors import agents, web  # noqa: F401


def run_worker(loglevel: str = "info") -> None:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings)
    load()
    sys.argv = ["casenotes", "worker", "--loglevel", loglevel, "--web-port", str(settings.web_port)]
    app.main()
