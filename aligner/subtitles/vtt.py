"""WebVTT cues, including YouTube's rolling auto-captions.

YouTube auto-captions (as yt-dlp / youtube-dl save them) show the previous phrase above the new
one, which carries inline word times (`so<00:00:00.480><c> today</c>`), with 10 ms
"transition" cues in between that repeat the last phrase. They come out as one cue per phrase
with its own time and its words' times.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from itertools import chain, islice
from pathlib import Path

from aligner.errors import InputError
from aligner.subtitles.blocks import BlockStats, RawCue, read_blocks, timestamp_seconds
from aligner.subtitles.cues import Cue, Word
from aligner.subtitles.text import clean_text, strip_markup

INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}\.\d{1,3})>")  # YouTube word timestamps
ROLLING_SHARE = 0.5  # share of cues that repeat the previous cue's last line => rolling captions
intern = sys.intern
PROBE_CUES = 1000  # cues looked at to tell rolling captions from plain ones
HEADER = "WEBVTT"


def read_vtt(lines: Iterable[str], path: Path, stats: BlockStats) -> list[Cue]:
    """Cues of a WebVTT file (its lines, decoded); `InputError` without the WEBVTT header."""
    lines = iter(lines)
    first = next(lines, "")
    if not first.lstrip("\ufeff").startswith(HEADER):
        raise InputError(path, "not a valid WebVTT file (it must start with WEBVTT)")
    blocks = read_blocks(lines, vtt=True, stats=stats)
    head = list(islice(blocks, PROBE_CUES))  # the rest streams: never all raw cues at once
    cleaned = [[x for x in map(clean_text, c.lines) if x] for c in head]
    if any(INLINE_TIME.search(line) for c in head for line in c.lines) or _repeats_last_lines(
        cleaned
    ):
        return _rolling_cues(chain(head, blocks))
    cues = [Cue(c.start, c.end, " ".join(ls)) for c, ls in zip(head, cleaned, strict=True)]
    cues.extend(Cue(c.start, c.end, _joined(c.lines)) for c in blocks)
    return cues


def _joined(lines: list[str]) -> str:
    return " ".join(x for x in map(clean_text, lines) if x)


def _repeats_last_lines(cleaned: list[list[str]]) -> bool:
    """Rolling captions without word times: most cues start with the previous cue's last line."""
    repeats = sum(
        bool(prev and cur and cur[0] == prev[-1])
        for prev, cur in zip(cleaned, cleaned[1:], strict=False)
    )
    return len(cleaned) > 1 and repeats >= ROLLING_SHARE * (len(cleaned) - 1)


def _rolling_cues(raw: Iterable[RawCue]) -> list[Cue]:
    """Each phrase once: a line with inline times is new; a plain line already shown is a repeat.

    A plain line equal to one of the last two phrases is dropped (the phrase above, or a
    transition cue). A phrase keeps the timing of the cue that introduced it; its words keep
    their inline times.
    """
    cues: list[Cue] = []
    recent: list[str] = []  # the last two phrases emitted
    for cue in raw:
        for line in cue.lines:
            plain = clean_text(line)
            if not plain:
                continue
            if INLINE_TIME.search(line):
                words = _inline_words(line, cue.start)
                cues.append(Cue(words[0].start if words else cue.start, cue.end, plain, words))
            elif plain in recent:
                continue
            else:
                cues.append(Cue(cue.start, cue.end, plain))
            recent = [*recent[-1:], plain]
    return cues


def _inline_words(line: str, cue_start: float) -> tuple[Word, ...]:
    """'so<00:00:01.500><c> today</c>' -> (Word(cue_start, 'so'), Word(1.5, 'today'))."""
    parts = INLINE_TIME.split(strip_markup(line, keep_times=True))  # text, time, text, time ...
    words = []
    time = cue_start
    for i, part in enumerate(parts):
        if i % 2 == 1:
            time = timestamp_seconds(part)
            continue
        # interned: a million words of speech are a few thousand distinct strings
        words.extend(Word(time, intern(w)) for w in clean_text(part, markup=False).split())
    return tuple(words)
