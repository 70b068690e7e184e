"""The ``recommend`` command line: a thin shell over the library.

Each command parses options, calls one public library function and renders
its result: data on stdout, logs, progress and errors on stderr. This module
owns the one place where a ``RecommenderError`` becomes a message and an exit
code (see ``recommender.errors`` for the codes): one line on stderr,
``FILE:LINE: reason (hint: …)``, never a traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import typer

try:  # typer >= 0.22 vendors click; older releases depend on the real package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

# The exit/abort exception types differ between typer releases (its own, or click's).
_EXIT = tuple({typer.Exit, *(getattr(click_exceptions, "Exit", typer.Exit),)})
_ABORT = tuple({typer.Abort, *(getattr(click_exceptions, "Abort", typer.Abort),)})

from recommender.errors import EXIT_INTERNAL, RecommenderError, render_line

app = typer.Typer(
    name="recommend",
    help="Turn observed network flow logs into least-privilege Kubernetes NetworkPolicies, and prove them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _register_commands() -> None:
    # Imported here so that `import recommender.cli` stays cheap and so that each
    # command module only has to define its commands on `app`.
    from recommender.cli import ingest  # noqa: F401
    from recommender.cli import verify  # noqa: F401
    from recommender.cli import generate  # noqa: F401
    from recommender.cli import report  # noqa: F401


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code instead of exiting."""
    _register_commands()
    try:
        rv = app(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="recommend")
    except click_exceptions.ClickException as e:
        e.show(file=sys.stderr)
        return e.exit_code
    except _EXIT as e:
        return e.exit_code
    except _ABORT:
        print("recommend: aborted", file=sys.stderr)
        return 130
    except RecommenderError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("recommend: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input
        if os.environ.get("RECOMMENDER_DEBUG"):
            traceback.print_exc()
        print(render_line(f"recommend: internal error: {type(e).__name__}: {e}",
                          "this is a bug; rerun with RECOMMENDER_DEBUG=1 for a traceback and report it"), file=sys.stderr)
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else 0


def main() -> None:
    sys.exit(run())
