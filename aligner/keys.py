"""Content keys: short hashes naming what a stage's output was made from, so the stage can tell
by itself whether that output is up to date (same key) or must be made again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

KEY_CHARS = 16  # hex characters kept: 64 bits, no collision in any realistic workspace
HASH_CHUNK_BYTES = 1 << 20  # read files 1 MiB at a time when hashing them


def inputs_key(value: Any) -> str:
    """Hash of a JSON-able description of a stage's inputs (dict keys in any order)."""
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:KEY_CHARS]


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (a moved or renamed file keeps its hash)."""
    sha = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            sha.update(chunk)
    return sha.hexdigest()
