"""`recommend generate --help` and `recommend ingest --help` say what the library does with each option.

The option help is the first documentation a user reads; it is derived here from the
library's own constants, so a help text that names less than the code does fails.
"""

from __future__ import annotations

import typer

from recommender.cli import _register_commands, app
from recommender.recommend import widen
from recommender.recommend.synthesis import SYSTEM_NAMESPACES, SYSTEM_PREFIXES


def option_help(command: str, name: str) -> str:
    _register_commands()
    group = typer.main.get_command(app)
    (param,) = [p for p in group.commands[command].params if p.name == name]
    return param.help or ""


def test_include_system_names_every_namespace_it_covers() -> None:
    text = option_help("generate", "include_system")
    for ns in SYSTEM_NAMESPACES:
        assert ns in text, f"--include-system help omits {ns}"
    for prefix in SYSTEM_PREFIXES:
        assert prefix.rstrip("-") in text, f"--include-system help omits {prefix}*"


def test_allow_any_external_names_both_families_and_the_cluster_exception() -> None:
    text = option_help("generate", "allow_any_external")
    assert widen.ANY_V4 in text and widen.ANY_V6 in text
    assert "cluster" in text, "--allow-any-external help does not say the cluster's own addresses are excepted"


def test_ingest_format_names_every_format_it_accepts() -> None:
    from recommender.io.detect import available_readers

    text = option_help("ingest", "format")
    for fmt in available_readers():
        assert fmt in text, f"--format help omits {fmt}, which --format accepts"
