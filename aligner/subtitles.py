"""Subtitle files: read WebVTT (incl. YouTube rolling auto-captions), SRT and HowTo100M JSON;
write WebVTT and SRT.

Every reader returns a list of `Cue`s in time order; a file that cannot be read raises
`InputError(path, "what is wrong")`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Word:
    start: float  # seconds
    text: str


@dataclass(frozen=True)
class Cue:
    """One ASR fragment: `text` said from `start` to `end` seconds; `words` when times are known."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())


# -- writers -----------------------------------------------------------------------------------
def format_timestamp(seconds: float, *, decimal: str = ".") -> str:
    """12.5 -> '00:00:12.500' (VTT) or '00:00:12,500' (SRT, decimal=',')."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def vtt_text(cues: Sequence[Cue]) -> str:
    blocks = ["WEBVTT\n"]
    for cue in cues:
        blocks.append(
            f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}\n{cue.text}\n"
        )
    return "\n".join(blocks)


def srt_text(cues: Sequence[Cue]) -> str:
    blocks = []
    for number, cue in enumerate(cues, start=1):
        span = f"{format_timestamp(cue.start, decimal=',')} --> {format_timestamp(cue.end, decimal=',')}"
        blocks.append(f"{number}\n{span}\n{cue.text}\n")
    return "\n".join(blocks)


def write_vtt(cues: Sequence[Cue], path: str | Path) -> None:
    Path(path).write_text(vtt_text(cues), encoding="utf-8")


def write_srt(cues: Sequence[Cue], path: str | Path) -> None:
    Path(path).write_text(srt_text(cues), encoding="utf-8")
