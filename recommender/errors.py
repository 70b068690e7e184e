"""One error hierarchy for everything the user can get wrong.

Every failure the user can cause (a bad flow file, an invalid policy, a missing
option) is raised as a ``RecommenderError``. The CLI catches exactly this base
class, prints ``error.render()`` -- one line, ``MESSAGE (hint: HINT)`` -- on
stderr, and exits with ``error.exit_code``. One line because scripts and CI logs
grep for the compiler form ``FILE:LINE: reason``; the hint rides on the same line. Third-party exceptions (duckdb, yaml, json)
are wrapped at the boundary where they happen, so the user never sees a
traceback for bad input.

Exit codes (documented in the README):

* 0  success
* 1  verification failed: an observed allowed connection is not admitted
* 2  bad input or usage (unreadable file, malformed record, invalid policy)
* 3  internal error (a bug: please report it)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class RecommenderError(Exception):
    """Base class of every error the user can cause.

    ``message`` is a single line; ``hint`` says what to do about it.
    """

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """The one line the CLI prints: ``MESSAGE (hint: HINT)``, or ``MESSAGE`` without a hint."""
        return render_line(self.message, self.hint)


def one_line(text: str) -> str:
    """``text`` with its line breaks (e.g. of a wrapped third-party message) joined by ``"; "``."""
    parts = [part.strip() for part in text.splitlines()]
    return "; ".join(part for part in parts if part)


def render_line(message: str, hint: str | None = None) -> str:
    """Render an error as a single line: ``MESSAGE (hint: HINT)``, the hint part only when there is one."""
    line = one_line(message)
    return f"{line} (hint: {one_line(hint)})" if hint and hint.strip() else line


def location(file: str | None, line: int | None = None, path: str | None = None) -> str:
    """Render a compiler-style location: ``FILE:LINE path`` with the parts that exist."""
    where = file or "<input>"
    if line is not None:
        where = f"{where}:{line}"
    if path:
        where = f"{where} {path}"
    return where


class InputError(RecommenderError):
    """Malformed input: rendered as ``FILE:LINE: reason`` (or ``FILE: reason``)."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.reason = reason
        super().__init__(f"{location(file, line, path)}: {reason}", hint)


class PolicyError(InputError):
    """A policy the Kubernetes API server would reject, located by file, line and field path."""


class UsageError(RecommenderError):
    """Options that do not make sense together, or a missing required option."""


class VerificationError(RecommenderError):
    """Generated or given policies fail to admit observed allowed connections."""

    exit_code = EXIT_VERIFY_FAILED
