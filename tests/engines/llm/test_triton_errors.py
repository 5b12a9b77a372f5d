"""What a Triton error means, classified from real tritonclient exceptions (the messages are the
ones tritonserver sends; the unload case is reproduced on the real server in test_triton.py)."""
import pytest
from tritonclient.utils import InferenceServerException

from casenotes.engines.base import EngineError, EngineUnavailable
from casenotes.engines.llm.resilience import ModelNotReady, PermanentError
from casenotes.engines.llm.triton import _ErrorMapper, _http_error, classify_error

NO_VERSIONS = "Request for unknown model: 'ensemble' has no available versions"
NOT_READY = "Request for unknown model: 'ensemble' version 1 is not at ready state"
UNKNOWN = "Request for unknown model: 'no_such_model' is not found"


@pytest.mark.parametrize("status,message,kind", [
    ("StatusCode.NOT_FOUND", NO_VERSIONS, ModelNotReady),  # unloading / failed load: was permanent
    ("400", NO_VERSIONS, ModelNotReady),
    ("404", NO_VERSIONS, ModelNotReady),
    ("StatusCode.UNAVAILABLE", NOT_READY, ModelNotReady),
    ("StatusCode.NOT_FOUND", UNKNOWN, PermanentError),  # a name that never existed
    ("StatusCode.INVALID_ARGUMENT", "unexpected inference input 'foo'", PermanentError),
    ("StatusCode.UNAUTHENTICATED", "missing token", PermanentError),
    ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", EngineUnavailable),
    ("503", "Service Unavailable", EngineUnavailable),
    ("StatusCode.RESOURCE_EXHAUSTED", "Exceeds maximum queue size", EngineError),
    ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", EngineError),
    ("StatusCode.INTERNAL", "CUDA out of memory", EngineError),
])
async def test_triton_errors_are_classified_by_meaning(status, message, kind):
    assert classify_error(status, message) is kind
    with pytest.raises(EngineError) as caught:
        async with _ErrorMapper():
            raise InferenceServerException(message, status=status)
    assert type(caught.value) is kind and message in str(caught.value)
    assert isinstance(caught.value.__cause__, InferenceServerException)


def test_model_not_ready_is_a_transient_engine_unavailable():
    assert issubclass(ModelNotReady, EngineUnavailable) and not issubclass(ModelNotReady, PermanentError)


def test_generate_endpoint_errors_use_the_same_classification():
    assert type(_http_error(400, '{"error":"%s"}' % NO_VERSIONS)) is ModelNotReady
    assert type(_http_error(400, '{"error":"%s"}' % UNKNOWN)) is PermanentError
    assert type(_http_error(502, "Bad Gateway")) is EngineUnavailable
