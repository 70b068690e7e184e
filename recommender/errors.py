"""One error hierarchy for everything the user can get wrong.

Every failure the user can cause (a bad flow file, an invalid policy, a missing
option) is raised as a ``RecommenderError``. The CLI catches exactly this base
class, prints ``str(error)`` as one line on stderr, the hint on a second line,
and exits with ``error.exit_code``. Third-party exceptions (duckdb, yaml, json)
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
