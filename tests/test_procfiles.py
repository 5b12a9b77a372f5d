"""Every `casenotes ...` command in the Procfiles parses with the real CLI (a typo there only
shows when honcho starts, and honcho then stops the whole stack)."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from casenotes.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def procfile_commands() -> list[tuple[str, list[str]]]:
    out = []
    for procfile in sorted(ROOT.glob("Procfile*")):
        for line in procfile.read_text().splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, command = line.partition(":")
            for part in command.split("&&"):
                argv = [w for w in shlex.split(part) if "=" not in w or w.startswith("-")]
                if argv and argv[0] == "casenotes":
                    out.append((f"{procfile.name}:{name}", argv[1:]))
    return out


def test_procfiles_declare_the_dev_stack():
    names = {n for n, _ in procfile_commands()}
    assert {"Procfile:broker", "Procfile:worker", "Procfile:replay", "Procfile.triton:triton"} <= names


@pytest.mark.parametrize("where,argv", procfile_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_procfile_command_parses(where, argv):
    if argv[0] == "triton-dev":  # its options pass through to the dev server's own parser
        from casenotes.engines.llm.devserver import build_parser as devserver_parser
        devserver_parser().parse_args(argv[1:])
        return
    args = build_parser().parse_args(argv)
    assert callable(args.func), where
