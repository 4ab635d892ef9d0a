"""Atomic file writes: a temporary file beside the target, flushed and fsynced, then renamed over
it. A killed process or a full disk never leaves a half-written file under the real name, and
the temporary file is removed when the write fails.

A SIGKILL between the write and the rename runs no cleanup, so its temporary file stays. Those
are never read as data (readers open real names only; temporary names start with a dot and end
in `.aligner-<pid>.tmp`), and they are swept: the first atomic write into a folder in a process
removes the temporary files there whose writing process is gone. The pid in the name is what
tells a leftover from a write in progress in another process (never delete that one).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.aligner-(?P<pid>\d+)\.tmp$")
_SWEPT: set[Path] = set()  # folders this process has already swept
_SWEPT_LOCK = threading.Lock()


def atomic_write(path: str | Path, write: Callable[[IO], Any], *, mode: str = "wb") -> Path:
    """Write `path` through `write(fileobj)`; `mode` "wb" (bytes) or "w" (UTF-8 text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".aligner-{os.getpid()}{TEMP_SUFFIX}", dir=path.parent
    )
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    try:
        with os.fdopen(fd, mode, **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save_npy(path: str | Path, array: np.ndarray) -> Path:
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write(path, lambda f: f.write(json.dumps(data, sort_keys=True).encode()))


def sweep_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files of atomic writes in `folder` (not below it) whose writing
    process no longer runs; returns what was removed. Other files are never touched."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _running(int(match["pid"])) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue  # gone already, or a read-only folder: it is never read anyway
        removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    key = folder.resolve()
    with _SWEPT_LOCK:
        if key in _SWEPT:
            return
        _SWEPT.add(key)
    sweep_stale_temps(folder)


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would end the process
        return True
    try:
        os.kill(pid, 0)  # no signal sent: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
