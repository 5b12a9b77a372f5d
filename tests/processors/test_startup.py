"""Start-up errors an operator can act on (issue 11, finding 4).

Before: with the broker down the worker printed 582 lines of librdkafka noise over 30 s, then a
traceback that did not name CASENOTES_BROKER; with a data directory left from an earlier
embedded broker, Faust's recovery crashed with a ConsistencyError traceback.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from casenotes.casefile import load_samples
from casenotes.processors.broker import EmbeddedBroker, ensure_topics, free_port
from casenotes.replay import Publisher
from casenotes.settings import Settings
from casenotes.testing import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def run_worker(settings, *args, timeout=60):
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "casenotes", "worker", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - t0


def test_broker_down_exits_quickly_with_one_message_naming_the_setting(tmp_path):
    settings = Settings.from_env(env={}, broker=f"kafka://127.0.0.1:{free_port()}", data_dir=str(tmp_path / "s"),
                                 web_port=free_port())
    proc, took = run_worker(settings)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert took < 15, f"took {took:.1f}s"
    assert "CASENOTES_BROKER" in out and "cannot reach the Kafka broker" in out and "Connection refused" in out
    assert "Traceback" not in out and "rdkafka" not in out
    assert len(out.strip().splitlines()) <= 2, out


def _publish_four_and_wait(settings, worker, case):
    pub = Publisher(settings)
    pub.metadata(case)
    for m in case.events[:4]:
        pub.message(case.case_id, m)
    pub.flush()
    worker.wait_covered(case.case_id, 4, timeout=90)


def test_state_left_from_an_earlier_embedded_broker_says_to_reset_it(tmp_path):
    port = free_port()
    settings = Settings.from_env(env={}, broker=f"kafka://127.0.0.1:{port}", embedded_broker=True,
                                 topic_prefix="st.", app_id="stale-test", data_dir=str(tmp_path / "state"),
                                 web_port=free_port(), classifier="passthrough")
    case = load_samples()[0]
    with EmbeddedBroker(port=port, log_path=tmp_path / "tansu1.log"):
        ensure_topics(settings)
        worker = WorkerProcess(settings, tmp_path / "worker1.log").start()
        try:
            _publish_four_and_wait(settings, worker, case)
            time.sleep(1.0)  # let Faust persist its changelog offsets locally
        finally:
            worker.kill()
    with EmbeddedBroker(port=port, log_path=tmp_path / "tansu2.log"):  # a fresh, empty broker
        proc, took = run_worker(settings)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert "--reset-state" in out and "ahead of the broker's changelogs" in out
        assert "Traceback" not in out and "ConsistencyError" not in out
        # What the message says works:
        worker = WorkerProcess(settings, tmp_path / "worker2.log")
        env_reset = subprocess.Popen([sys.executable, "-m", "casenotes", "worker", "--reset-state"],
                                     env={**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"},
                                     stdout=open(tmp_path / "worker2.log", "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        worker.proc = env_reset
        try:
            worker.wait_ready(90)
            _publish_four_and_wait(settings, worker, case)
        finally:
            worker.stop()


def test_real_kafka_gets_real_kafka_advice(tmp_path, monkeypatch):
    from casenotes.processors import broker

    settings = Settings.from_env(env={}, embedded_broker=False, data_dir=str(tmp_path))
    monkeypatch.setattr(broker, "stale_state", lambda s: ["case-state partition 0: offset 5 stored locally"])
    with pytest.raises(broker.StartupError, match="CASENOTES_APP_ID") as err:
        broker.check_local_state(settings)
    assert "--reset-state" not in str(err.value) and "delete" in str(err.value)
