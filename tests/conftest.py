"""Shared fixtures: a real embedded broker (tansu) for the session, and isolated stacks
(unique topic prefix, consumer group and state directory per test) on top of it."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from casenotes.processors.broker import EmbeddedBroker, ensure_topics, free_port
from casenotes.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as b:
        yield b


@pytest.fixture
def stack_settings(broker, tmp_path):
    """Settings for one isolated worker stack on the session broker."""
    n = next(_ids)
    settings = Settings.from_env(
        env={}, broker=broker.url, embedded_broker=True, topic_prefix=f"t{n}-{os.getpid()}.",
        app_id=f"casenotes-test-{n}-{os.getpid()}", data_dir=str(tmp_path / "state"), web_port=free_port(),
        classifier="passthrough", retry_initial_s=0.2, retry_max_s=2.0,
    )
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="session")
def dev_triton(tmp_path_factory):
    """The development Triton server (``ensemble``, ``ensemble_stream``, and with test models
    ``ensemble_slow`` sleeping 3 s and ``ensemble_malformed``) on free ports, shared by the
    session: starting it costs ~10 s."""
    pytest.importorskip("pytriton", reason="the dev Triton server needs: pip install 'casenotes[triton-dev]'")
    from casenotes.engines.llm.devserver import DevTritonProcess

    os.environ.setdefault("PYTRITON_HOME", str(tmp_path_factory.mktemp("pytriton")))
    server = DevTritonProcess(str(tmp_path_factory.mktemp("triton") / "triton.log"), test_models=True, slow_s=3.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared development data not found at {SHARED_DATA}")
    return SHARED_DATA
