"""One registry per kind: the CLI, the settings help and the worker all read it."""
import pytest

from casenotes.cli import build_parser
from casenotes.engines.factory import (CLASSIFIER_REGISTRY, CLASSIFIERS, ENGINE_REGISTRY, ENGINES, make_classifier,
                                       make_engine)
from casenotes.settings import Settings


def _choices(parser, *path_and_dest):
    *path, dest = path_and_dest
    for name in path:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[name]
    return tuple(next(a for a in parser._actions if a.dest == dest).choices)


def test_cli_choices_and_settings_help_come_from_the_registries():
    assert ENGINES == ENGINE_REGISTRY.names and CLASSIFIERS == CLASSIFIER_REGISTRY.names
    parser = build_parser()
    assert _choices(parser, "take-notes", "engine") == ENGINE_REGISTRY.names
    assert _choices(parser, "take-notes", "classifier") == CLASSIFIER_REGISTRY.names
    helps = {f.name: f.metadata["help"] for f in Settings.__dataclass_fields__.values()}
    assert all(n in helps["engine"] for n in ENGINE_REGISTRY.names)
    assert all(n in helps["classifier"] for n in CLASSIFIER_REGISTRY.names)


def test_every_entry_resolves_to_a_class():
    for entry in (*ENGINE_REGISTRY, *CLASSIFIER_REGISTRY):
        if entry.name in ("triton", "onnx"):
            continue  # optional heavy dependencies (tritonclient, onnxruntime); covered by their own tests
        assert isinstance(entry.load(), type)


def test_make_functions_build_by_name_and_reject_unknown_names():
    s = Settings.from_env(env={}, engine="extractive", classifier="passthrough")
    assert make_engine(s).name == "extractive" and make_classifier(s).name == "passthrough"
    with pytest.raises(ValueError, match="CASENOTES_ENGINE='nope'.*extractive, triton, openai"):
        make_engine(Settings.from_env(env={}, engine="nope"))
    with pytest.raises(ValueError, match="CASENOTES_CLASSIFIER"):
        make_classifier(Settings.from_env(env={}, classifier="nope"))
