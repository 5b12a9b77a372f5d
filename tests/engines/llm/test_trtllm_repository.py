"""The Mixtral TensorRT-LLM model repository cannot run here (no GPU, no engine): check what can
be checked on CPU — every config.pbtxt parses as a Triton ModelConfig, the ensemble wiring is
consistent, and the ensemble offers the tensor interface TritonEngine and the dev server use."""
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from casenotes.engines.llm.devserver import _tensors

REPO = Path(__file__).resolve().parents[3] / "infra" / "triton" / "mixtral-trtllm"
DTYPES = {"bytes": "TYPE_STRING", "int32": "TYPE_INT32", "float32": "TYPE_FP32", "bool": "TYPE_BOOL"}


def load(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def configs():
    return sorted(REPO.rglob("config.pbtxt"))


@pytest.mark.parametrize("path", configs(), ids=lambda p: str(p.relative_to(REPO)))
def test_config_parses(path):
    cfg = load(path)
    assert cfg.name == path.parent.name and cfg.max_batch_size == 64


def test_ensemble_steps_map_existing_tensors():
    ensemble = load(REPO / "ensemble" / "config.pbtxt")
    available = {t.name for t in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        model = load(REPO / step.model_name / "config.pbtxt")
        assert set(step.input_map) <= {t.name for t in model.input}, step.model_name
        assert set(step.output_map) <= {t.name for t in model.output}, step.model_name
        assert set(step.input_map.values()) <= available, step.model_name
        available |= set(step.output_map.values())
    assert "text_output" in available
    required = {t.name for t in load(REPO / "tensorrt_llm" / "config.pbtxt").input if not t.optional}
    mapped = {k for s in ensemble.ensemble_scheduling.step if s.model_name == "tensorrt_llm" for k in s.input_map}
    assert required <= mapped


def test_dev_server_serves_the_same_interface():
    ensemble = {t.name: model_config_pb2.DataType.Name(t.data_type) for t in load(REPO / "ensemble" / "config.pbtxt").input}
    inputs, outputs = _tensors()
    for t in inputs:
        assert ensemble[t.name] == DTYPES[np.dtype(t.dtype).name], t.name
    assert [t.name for t in outputs] == ["text_output"]


def test_int8_variant_differs_only_in_engine():
    base = load(REPO / "tensorrt_llm" / "config.pbtxt")
    int8 = load(REPO / "variants" / "int8-weight-only" / "tensorrt_llm" / "config.pbtxt")
    assert int8.parameters["gpt_model_path"].string_value.endswith("int8wo-tp2")
    int8.parameters["gpt_model_path"].string_value = base.parameters["gpt_model_path"].string_value
    assert int8 == base
