"""Errors that reach the user as one readable line.

Every error a user can cause (bad input file, missing folder, locked database) is raised as an
`AlignerError` whose message names the file and what is wrong; the CLI prints it and exits 1.
"""

from __future__ import annotations

import errno
from pathlib import Path

# what a full disk, a read-only or foreign folder look like: as an OSError's errno, or as words
# inside the message of libraries that wrap it (DuckDB's IOException, torch's RuntimeError)
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
FULL_WORDS = ("No space left on device", "Disk quota exceeded", "File too large")
LOCKED_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
LOCKED_WORDS = ("Read-only file system", "Permission denied")
FULL_HINT = "free some space, or write the workspace elsewhere with --db PATH"
LOCKED_HINT = "write the workspace elsewhere with --db PATH"


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


def storage_error(err: BaseException) -> str | None:
    """One line for a write that the disk refused (full, read-only, not ours), else None.

    Looks through the exception and its causes, since libraries re-raise OS errors as their own.
    """
    cause: BaseException | None = err
    while cause is not None:
        reason = storage_reason(cause)
        if reason is not None:
            named = isinstance(cause, OSError) and cause.filename
            return f"{cause.filename}: {reason}" if named else reason
        cause = cause.__cause__ or cause.__context__
    return None


def storage_reason(err: BaseException) -> str | None:
    """ "No space left on device (free some space, ...)" for this one exception, else None."""
    if isinstance(err, OSError) and err.errno in FULL_ERRNOS | LOCKED_ERRNOS:
        return f"{err.strerror} ({FULL_HINT if err.errno in FULL_ERRNOS else LOCKED_HINT})"
    text = first_line(err)
    if any(words in text for words in FULL_WORDS):
        return f"{text} ({FULL_HINT})"
    if any(words in text for words in LOCKED_WORDS):
        return f"{text} ({LOCKED_HINT})"
    return None
