"""HowTo100M captions: `{"start": [s], "end": [s], "text": [str]}` (per-video .json files and
the entries of a dataset-wide caption.json / raw_caption.json).

YouTube's raw captions are two lines on screen: each caption's second line comes back as the
next caption's first line ("a\\nb", then "b\\nc"), and some captions repeat the whole previous
caption and add to it. Each line is kept once, in the caption where it first appears (that is
when it was said; TAN's preprocessing keeps it in the later one instead), so no word is stored
twice. Sound labels and empty fragments are dropped later by `normalize_cues`. JSON text has no
markup: `a < b and c > d` is kept as it is.
"""

from __future__ import annotations

import math
from pathlib import Path

from aligner.errors import InputError
from aligner.subtitles.cues import Cue
from aligner.subtitles.text import clean_text


def cues_from_json(entry, path: str | Path, *, video_id: str | None = None) -> list[Cue]:
    """One HowTo100M entry -> raw `Cue`s, repeated lines merged (not yet normalised).
    `video_id` names the entry of a dataset-wide caption.json in messages."""
    where = Path(path)
    prefix = "" if video_id is None else f"entry {video_id!r}: "
    if not isinstance(entry, dict) or not all(k in entry for k in ("start", "end", "text")):
        raise InputError(where, f'{prefix}expected an object with "start", "end" and "text" lists')
    starts, ends, texts = entry["start"], entry["end"], entry["text"]
    if not all(isinstance(v, list) for v in (starts, ends, texts)):
        raise InputError(where, f'{prefix}"start", "end" and "text" must be lists')
    if not len(starts) == len(ends) == len(texts):
        raise InputError(
            where,
            f"{prefix}start/end/text lists have different lengths"
            f" ({len(starts)}, {len(ends)}, {len(texts)})",
        )
    times = [
        _times(i, s, e, where, prefix) for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]
    lines = [_lines(i, text, where, prefix) for i, text in enumerate(texts)]
    merged = merge_repeated_lines(lines)
    return [Cue(s, e, " ".join(ls)) for (s, e), ls in zip(times, merged, strict=True)]


def merge_repeated_lines(captions: list[list[str]]) -> list[list[str]]:
    """Each caption's lines without those the caption before already showed at its bottom.

    [["a", "b"], ["b", "c"], ["c", "d"]] -> [["a", "b"], ["c"], ["d"]]; a caption that repeats
    the whole previous caption word for word keeps only what it adds.
    """
    out: list[list[str]] = []
    prev: list[str] = []
    for lines in captions:
        new = list(lines)
        if len(new) > 1 and prev and _norm(new[0]) == _norm(prev[-1]):
            new.pop(0)  # the line still on screen from the caption before
        prev_words = _norm(" ".join(prev)).split()
        new_words = clean_text(" ".join(new), markup=False).split()
        head = [w.lower() for w in new_words[: len(prev_words)]]
        if 0 < len(prev_words) < len(new_words) and head == prev_words:
            new = [" ".join(new_words[len(prev_words) :])]  # growing caption: keep the addition
        out.append(new)
        if any(map(_norm, lines)):  # a "[Music]" caption between two lines breaks no chain
            prev = [line for line in lines if _norm(line)]
    return out


def _norm(line: str) -> str:
    return clean_text(line, markup=False).lower()


def _times(i: int, start, end, where: Path, prefix: str) -> tuple[float, float]:
    try:
        if isinstance(start, bool) or isinstance(end, bool):
            raise TypeError
        return float(start), float(end)
    except (TypeError, ValueError):
        raise InputError(
            where, f"{prefix}item {i}: times must be numbers, got {start!r}, {end!r}"
        ) from None


def _lines(i: int, text, where: Path, prefix: str) -> list[str]:
    if text is None:
        return []
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise InputError(
            where, f"{prefix}item {i}: text must be a string, got {type(text).__name__}"
        )
    if isinstance(text, float) and not math.isfinite(text):
        return []
    return [line for line in str(text).splitlines() if line.strip()]
