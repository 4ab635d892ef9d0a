"""Cue blocks of WebVTT and SRT files, read one line at a time (no webvtt-py: it held a 44 MB
file as objects and took minutes).

A block is a run of lines between blank (or whitespace-only) lines. A block holding a timing
line `START --> END [settings]` starts a cue: the lines above the timing line are its id (a
number in SRT, any text in WebVTT), the lines below are its text. Tolerated, because real files
do it: SRT without cue numbers, a missing blank line between SRT cues (the number line before
the next timing is taken as an id), and a block without a timing line, which continues the
previous cue's text (blank lines inside an SRT cue, or YouTube's cue whose first text line is a
lone space). WebVTT NOTE, STYLE and REGION blocks are skipped. A block whose timing line does
not parse (e.g. a negative time) is skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_TIME = r"(?:\d+:)?\d+:\d+(?:[.,]\d+)?"
TIMING = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:[\s,].*)?$")
VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")  # first word of a WebVTT block that is no cue


@dataclass(slots=True)
class RawCue:
    start: float  # seconds
    end: float
    lines: list[str] = field(default_factory=list)  # text lines, markup still in


@dataclass
class BlockStats:
    bad_timings: int = 0  # blocks skipped because their timing line did not parse
    cues: int = 0


def timestamp_seconds(value: str) -> float:
    """'01:02:03.5' / '02:03,500' / '2:03' -> seconds."""
    seconds = 0.0
    for part in value.replace(",", ".").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def read_blocks(lines: Iterable[str], *, vtt: bool, stats: BlockStats) -> Iterator[RawCue]:
    """Cues in file order; `stats` counts what was skipped."""
    pending: RawCue | None = None  # held back: a following block without timing may extend it
    for block in _blocks(lines):
        if vtt and block[0].split(maxsplit=1)[0] in VTT_SKIPPED_BLOCKS:
            continue
        cues = _block_cues(block, stats)
        if cues is None:  # no timing line: more text for the cue before
            if pending is not None:
                pending.lines.extend(block)
            continue
        for cue in cues:
            if pending is not None:
                yield pending
            pending = cue
    if pending is not None:
        yield pending


def _blocks(lines: Iterable[str]) -> Iterator[list[str]]:
    block: list[str] = []
    for line in lines:
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _block_cues(block: list[str], stats: BlockStats) -> list[RawCue] | None:
    """The cues of one block; None when it has no timing line at all."""
    cues: list[RawCue] = []
    seen_arrow = False
    for line in block:
        if "-->" not in line:
            if cues:
                cues[-1].lines.append(line)
            continue  # lines above the first timing line: the cue id
        seen_arrow = True
        if cues and cues[-1].lines and cues[-1].lines[-1].strip().isdigit():
            cues[-1].lines.pop()  # no blank line between SRT cues: the number is the next id
        match = TIMING.match(line)
        if match is None:
            stats.bad_timings += 1
            cues.append(RawCue(-1.0, -1.0))  # collects its text lines, dropped below
            continue
        start, end = (timestamp_seconds(g) for g in match.groups())
        cues.append(RawCue(start, end))
        stats.cues += 1
    if not seen_arrow:
        return None
    return [cue for cue in cues if cue.start >= 0]
