"""Write cues as WebVTT or SRT."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from aligner.subtitles.cues import Cue


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
            f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}\n"
            f"{html.escape(cue.text, quote=False)}\n"  # WebVTT text: & < > escaped
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
