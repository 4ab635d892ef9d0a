"""The review desk's keyboard map and nudge step, optionally from a settings file.

The file is TOML, looked up at `--settings PATH`, else `$ALIGNER_REVIEW_SETTINGS`, else
`DATASET/.aligner/review.toml`; every entry is optional:

    nudge_s = 0.5            # seconds a start/end nudge key moves the boundary
    [keys]
    accept = "y"             # KeyboardEvent.key names: "a", "ArrowLeft", "Enter", "[", ...

Streamlit keeps "c" and "r" for itself, so they cannot be mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from aligner.errors import InputError

SETTINGS_FILE = "review.toml"  # inside the workspace folder
DEFAULT_KEYS = {
    "accept": "a", "correct": "e", "not_alignable": "n", "skip": "s",
    "prev": "ArrowLeft", "next": "ArrowRight", "next_open": "j", "undo": "u",
    "start_earlier": "q", "start_later": "w", "end_earlier": "o", "end_later": "p",
    "mark_start": "[", "mark_end": "]", "frame_back": ",", "frame_forward": ".", "play": "k",
    "edit_text": "t", "merge_next": "m",
    "reason_1": "1", "reason_2": "2", "reason_3": "3", "reason_4": "4",
    "confirm": "Enter", "cancel": "Escape",
}  # fmt: skip
RESERVED_KEYS = {"c", "r"}  # Streamlit's own: clear cache, rerun
DEFAULT_NUDGE_S = 0.5


@dataclass(frozen=True)
class DeskSettings:
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    nudge_s: float = DEFAULT_NUDGE_S


def load_settings(path: Path | None) -> DeskSettings:
    """The defaults, overridden by the TOML file at `path` when it exists."""
    if path is None or not path.is_file():
        return DeskSettings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a TOML settings file ({err})") from None
    keys = dict(DEFAULT_KEYS)
    for action, key in (raw.get("keys") or {}).items():
        if action not in DEFAULT_KEYS:
            raise InputError(path, f"unknown action {action!r} in [keys]")
        if not isinstance(key, str) or not key:
            raise InputError(path, f'[keys] {action} must be a key name such as "a"')
        keys[action] = key
    _check_keys(path, keys)
    nudge = raw.get("nudge_s", DEFAULT_NUDGE_S)
    if not isinstance(nudge, int | float) or not 0.05 <= nudge <= 10:
        raise InputError(path, "nudge_s must be a number of seconds between 0.05 and 10")
    return DeskSettings(keys=keys, nudge_s=round(float(nudge), 2))


def _check_keys(path: Path, keys: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for action, key in keys.items():
        norm = key.lower() if len(key) == 1 else key
        if norm in RESERVED_KEYS:
            raise InputError(path, f"[keys] {action} = {key!r}: Streamlit reserves that key")
        if norm in seen:
            raise InputError(path, f"[keys] {action} and {seen[norm]} both use {key!r}")
        seen[norm] = action
