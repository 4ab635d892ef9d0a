"""Errors that reach the user as one readable line.

Every error a user can cause (bad input file, missing folder, locked database) is raised as an
`AlignerError` whose message names the file and what is wrong; the CLI prints it and exits 1.
"""

from __future__ import annotations

from pathlib import Path


class AlignerError(Exception):
    """A problem the user can fix; `str(err)` is one line that names the file and the cause."""


class InputError(AlignerError):
    """A bad input file: `InputError(path, "what is wrong")` -> "path: what is wrong"."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StoreLockedError(AlignerError):
    """The DuckDB file is held read-write by another process."""


class StoreBusyError(AlignerError):
    """Other sessions kept writing the same rows through every retry; nothing was written."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type name when empty), for one-line reports."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
