"""Every `recommend` command explains itself: --help with examples, and a place in the README."""

from __future__ import annotations

import re

import pytest
import typer

from conftest import ROOT
from recommender.cli import _register_commands, app


def command_names() -> list[str]:
    _register_commands()
    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}) or [group.name])


COMMANDS = command_names()


def test_the_cli_has_its_commands():
    assert {"ingest", "generate", "verify", "report"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^\s*Examples?\b", result.stdout, flags=re.M), f"`recommend {name} --help` has no Examples section"
    examples = result.stdout.split("Example", 1)[1]
    assert f"recommend {name}" in examples, f"the examples of `recommend {name}` do not show the command itself"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_documented_in_the_readme(name):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"\brecommend {re.escape(name)}\b", readme), f"README.md never shows `recommend {name}`"


def test_top_level_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


def test_the_command_line_starts_without_pandas() -> None:
    """`recommend ingest` and friends must not pay for pandas (~0.45 s) before doing anything."""
    import subprocess
    import sys
    code = ("import sys, recommender, recommender.cli.ingest; from recommender.cli import _register_commands; "
            "_register_commands(); print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    # the public API still resolves on first use
    out = subprocess.run([sys.executable, "-c", "from recommender import load_flows, generate, workloads; print('ok')"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
