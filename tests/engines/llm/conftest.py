"""Fixtures of the LLM engine tests (the dev Triton server is the session fixture in tests/conftest.py)."""
from __future__ import annotations

import pytest

from llm_cases import view


@pytest.fixture
def make_view():
    return view
