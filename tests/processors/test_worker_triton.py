"""The worker with CASENOTES_ENGINE=triton, end to end: broker -> worker -> real Triton server
(the dev server, TensorRT-LLM ensemble interface) -> notes topic. Also: the engine goes down
mid-case, notes are delayed and catch up when it is back, none lost."""
from __future__ import annotations

import pytest

from casenotes.casefile import load_samples
from casenotes.replay import Publisher, replay
from casenotes.testing import TopicReader, WorkerProcess, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_worker_takes_notes_through_triton(stack_settings, dev_triton, tmp_path):
    settings = stack_settings.replace(engine="triton", triton_url=dev_triton.grpc_url.split("://")[-1],
                                      triton_protocol="grpc", triton_model="ensemble")
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    notes = TopicReader(settings, "notes", "case_note")
    try:
        cases = load_samples()[:2]
        replay(settings, cases, speed=0)
        for c in cases:
            info = worker.wait_covered(c.case_id, len(c.events), timeout=120)
            assert info["bullets"] >= 3
        recs = notes.wait_until(lambda rs: len(rs) >= 6)
        assert {r["engine"] for r in recs} == {"triton"}
        assert all(r["model_version"].startswith("ensemble:") for r in recs)
        from casenotes.testing import get_metrics
        text = get_metrics(worker.base_url)
        assert 'casenotes_llm_events_total{engine="triton",kind="calls"}' in text
        assert 'casenotes_llm_circuit_open{engine="triton"} 0.0' in text
    finally:
        notes.close()
        worker.stop()


def test_engine_outage_delays_notes_and_never_drops_them(stack_settings, tmp_path):
    pytest.importorskip("pytriton")
    from casenotes.engines.llm.devserver import DevTritonProcess

    server = DevTritonProcess(str(tmp_path / "triton.log")).start()
    settings = stack_settings.replace(engine="triton", triton_url=server.grpc_url.split("://")[-1],
                                      triton_protocol="grpc", llm_timeout_s=2.0, llm_retries=1,
                                      llm_breaker_cooldown_s=1.0, retry_max_s=1.0)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    case = load_samples()[0]
    half = len(case.events) // 2
    pub = Publisher(settings)
    try:
        pub.metadata(case)
        for m in case.events[:half]:
            pub.message(case.case_id, m)
        pub.flush()
        worker.wait_covered(case.case_id, half, timeout=60)
        server.stop()  # the engine goes away mid-case
        for m in case.events[half:]:
            pub.message(case.case_id, m)
        pub.flush()
        import time
        time.sleep(4)
        info = worker.case(case.case_id)
        assert info["covered"] == half and info["pending"], "no notes while the engine is down, case kept pending"
        server.start()  # back: the pending case catches up
        info = worker.wait_covered(case.case_id, len(case.events), timeout=90)
        assert info["covered"] == len(case.events)
        assert "note-taking failed" in worker.log_tail(400)
    finally:
        worker.stop()
        server.stop()


def test_engine_down_at_start_up_notes_follow_when_it_comes_up(stack_settings, tmp_path):
    """Start order must not matter: a worker that starts before Triton keeps the cases pending
    and connects on a later retry (it used to fail every call with 'used before start()')."""
    pytest.importorskip("pytriton")
    import time

    from casenotes.engines.llm.devserver import DevTritonProcess

    server = DevTritonProcess(str(tmp_path / "triton.log"))  # ports chosen, not started yet
    settings = stack_settings.replace(engine="triton", triton_url=server.grpc_url, triton_protocol="grpc",
                                      llm_timeout_s=2.0, llm_retries=0, llm_breaker_cooldown_s=1.0,
                                      retry_max_s=1.0)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    case = load_samples()[1]
    try:
        replay(settings, [case], speed=0)
        info = wait_for(lambda: (i := worker.case(case.case_id)) and i["messages"] == len(case.events) and i,
                        timeout=60, what="the worker to record every message")
        time.sleep(2)  # several retries happen meanwhile
        info = worker.case(case.case_id)
        # (a greeting may be covered without an engine call: the substance gate skips it)
        assert info["bullets"] == 0 and info["pending"] and info["covered"] < len(case.events), \
            "nothing can be noted while Triton is down"
        assert "not ready at start-up" in worker.log_tail(400)
        server.start()
        info = worker.wait_covered(case.case_id, len(case.events), timeout=90)
        assert info["bullets"] >= 3
        assert "used before start" not in worker.log_tail(1000)
    finally:
        worker.stop()
        server.stop()
