"""Subtitle files: read WebVTT (incl. YouTube rolling auto-captions), SRT and HowTo100M JSON;
write WebVTT and SRT.

Every reader returns a list of `Cue`s in time order; a file that cannot be read raises
`InputError(path, "what is wrong")`. What the readers repair instead of refusing (each repair is
one warning line naming the file, through the `warn` callback):
  - encoding: a UTF-8/16/32 BOM decides; BOM-less UTF-16 is recognised by its NUL bytes; a file
    that is not UTF-8 is decoded as cp1252 (then latin-1, which never fails) with a warning;
  - negative times clamped to 0; a cue ending before it starts has start and end swapped;
  - cues sorted by start; back-to-back repeats merged; cues with the same start joined; an
    overlap trimmed so each phrase ends where the next one starts (`normalize_cues`);
  - cue blocks with unreadable timings are skipped and counted.
Text cleaning (tags, entities, SSA overrides, sound and speaker labels) is `text.py`; the block
reader shared by WebVTT and SRT is `blocks.py`; HowTo100M's repeated lines are merged in
`howto.py`. `clamp_to_duration` keeps cues inside the video (ingest calls it).
"""

from __future__ import annotations

import json
from pathlib import Path

from aligner.errors import InputError
from aligner.subtitles.blocks import BlockStats
from aligner.subtitles.cues import Cue, Word, clamp_to_duration, normalize_cues
from aligner.subtitles.cues import _log_warning as _default_warn
from aligner.subtitles.howto import cues_from_json
from aligner.subtitles.srt import read_srt
from aligner.subtitles.text import Source, Warn, decode_text, is_blank, iter_lines
from aligner.subtitles.vtt import read_vtt
from aligner.subtitles.writers import format_timestamp, srt_text, vtt_text, write_srt, write_vtt

SUBTITLE_EXTENSIONS = (".vtt", ".srt", ".json")  # in order of preference for one video

__all__ = [
    "SUBTITLE_EXTENSIONS", "Cue", "Warn", "Word", "clamp_to_duration", "cues_from_json",
    "decode_text", "format_timestamp", "normalize_cues", "parse_subtitles", "read_subtitles",
    "srt_text", "vtt_text", "write_srt", "write_vtt",
]  # fmt: skip


def read_subtitles(
    path: str | Path, *, warn: Warn | None = None, duration: float | None = None
) -> list[Cue]:
    """Read a .vtt, .srt or HowTo100M .json subtitle file into time-ordered `Cue`s.

    Problems the reader repairs (encoding, reversed or negative times, unreadable cue blocks)
    are reported through `warn` as one line naming the file; a file that cannot be read at
    all raises `InputError`. `duration`: the video's length in seconds, cues are kept inside it.
    WebVTT and SRT stream from the file: a 50 MB file is never held in memory whole.
    """
    path = Path(path)
    try:
        return _parse(path, path, warn=warn, duration=duration)
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror or err})") from None


def parse_subtitles(
    data: bytes, path: str | Path, *, warn: Warn | None = None, duration: float | None = None
) -> list[Cue]:
    """`read_subtitles` on bytes already read; `path` picks the format and names the file."""
    return _parse(data, Path(path), warn=warn, duration=duration)


def _parse(source: Source, path: Path, *, warn: Warn | None, duration: float | None) -> list[Cue]:
    warn = warn or _default_warn
    suffix = path.suffix.lower()
    if suffix not in SUBTITLE_EXTENSIONS:
        raise InputError(path, f"unknown subtitle format {suffix!r} (expected .vtt, .srt, .json)")
    if is_blank(source):
        raise InputError(path, "empty subtitle file")
    if suffix == ".json":
        cues = cues_from_json(_load_json(decode_text(source, path, warn=warn), path), path)
    else:
        stats = BlockStats()
        reader = read_srt if suffix == ".srt" else read_vtt
        cues = reader(iter_lines(source, path, warn=warn), path, stats)
        if stats.bad_timings:
            warn(f"{path}: skipped {stats.bad_timings} cue block(s) with unreadable timings")
    cues = normalize_cues(cues, path, warn=warn, duration=duration)
    if not cues:
        raise InputError(path, "no cues with text in the file")
    return cues


def _load_json(text: str, path: Path):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            path, f"malformed JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    except RecursionError:
        raise InputError(path, "malformed JSON (nested too deeply)") from None
