"""SRT (SubRip) cues: numbered or not, with `<i>`/`<font>` tags and SSA `{\\an8}` overrides."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aligner.errors import InputError
from aligner.subtitles.blocks import BlockStats, read_blocks
from aligner.subtitles.cues import Cue
from aligner.subtitles.text import clean_text


def read_srt(lines: Iterable[str], path: Path, stats: BlockStats) -> list[Cue]:
    """Cues of an SRT file (its lines, decoded); `InputError` when no timing line is found."""
    cues = [
        Cue(c.start, c.end, " ".join(t for t in map(clean_text, c.lines) if t))
        for c in read_blocks(lines, vtt=False, stats=stats)
    ]
    if not stats.cues and not stats.bad_timings:
        raise InputError(path, "not a valid SRT file (no 'START --> END' timing line)")
    return cues
