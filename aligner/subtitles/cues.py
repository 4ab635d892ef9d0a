"""The cue types every subtitle reader returns, and the repairs applied to every format."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aligner.errors import InputError
from aligner.subtitles.text import Warn, clean_text, has_words

CLAMP_WARN_S = 1.0  # seconds past the video's end a cue may reach before it is worth a warning


@dataclass(frozen=True, slots=True)
class Word:
    start: float  # seconds
    text: str


@dataclass(frozen=True, slots=True)
class Cue:
    """One ASR fragment: `text` said from `start` to `end` seconds; `words` when times are known."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())


def normalize_cues(
    cues: Sequence[Cue],
    path: str | Path,
    *,
    warn: Warn | None = None,
    duration: float | None = None,
) -> list[Cue]:
    """Repair cue times the same way for every format (documented choices):

    - cues without words ('', '-', '♪', a bare `[Music]`), or with a time that is not a finite
      number, are dropped; labels are stripped from the text (`text.strip_labels`);
    - an unpaired UTF-16 surrogate (JSON's "\\ud800" escape decodes to one; no store or
      UTF-8 file can hold it) becomes U+FFFD, and a warning names the file;
    - negative times are clamped to 0; a cue whose end is before its start is swapped
      (the text is kept, a warning names the file);
    - with the video's `duration`: cues kept inside it (`clamp_to_duration`; before the steps
      below, so no repair moves a word past the end); `InputError` when every cue is past it;
    - cues are sorted by start time (stable, so equal starts keep file order);
    - the same text repeated in back-to-back overlapping cues (raw HowTo100M captions) is
      merged into one cue;
    - cues starting at the same time (two speakers, or a sign and a line, shown together)
      share their span in file order, in proportion to their words, so time never runs
      backwards and each stays its own sentence;
    - a cue that overlaps the next one ends where the next one starts, so every phrase has
      its own time (raw captions keep each line on screen while the next is said).
    """
    warn = warn or _log_warning
    counts = {"reversed": 0, "negative": 0, "not finite": 0, "surrogates": 0}
    fixed = [c for c in (_fix_times(_fix_text(cue, counts), counts) for cue in cues) if c]
    for problem, n in counts.items():
        if n:
            warn(f"{path}: {n} cue(s) with {_REPAIR[problem]}")
    if duration is not None and fixed:
        fixed = clamp_to_duration(fixed, duration, path, warn=warn)
    fixed.sort(key=lambda c: c.start)
    return _trim_overlaps(_share_same_starts(_merge_repeats(fixed)))


def _merge_repeats(cues: list[Cue]) -> list[Cue]:
    merged: list[Cue] = []
    for cue in cues:
        prev = merged[-1] if merged else None
        if prev is not None and cue.text == prev.text and cue.start <= prev.end:
            merged[-1] = replace(prev, end=max(prev.end, cue.end))
        else:
            merged.append(cue)
    return merged


def _share_same_starts(cues: list[Cue]) -> list[Cue]:
    out: list[Cue] = []
    i = 0
    while i < len(cues):
        j = i + 1
        while j < len(cues) and cues[j].start == cues[i].start:
            j += 1
        next_start = cues[j].start if j < len(cues) else math.inf
        out.extend(_share_span(cues[i:j], next_start) if j - i > 1 else cues[i:j])
        i = j
    return out


def _share_span(group: list[Cue], next_start: float) -> list[Cue]:
    """Cues with one start: consecutive slices of [start, latest end], sized by word count
    (and over before the next cue starts, so starts stay in order)."""
    start, end = group[0].start, min(max(c.end for c in group), next_start)
    counts = [len(c.text.split()) for c in group]
    total, done, out = sum(counts), 0, []
    for cue, n in zip(group, counts, strict=True):
        a = start + (end - start) * done / total
        done += n
        b = start + (end - start) * done / total
        out.append(Cue(a, b, cue.text, tuple(w for w in cue.words if a <= w.start <= b)))
    return out


def _trim_overlaps(cues: list[Cue]) -> list[Cue]:
    for i in range(len(cues) - 1):
        if cues[i].end > cues[i + 1].start:
            cues[i] = replace(cues[i], end=cues[i + 1].start)
    return cues


_REPAIR = {
    "reversed": "reversed times (start and end swapped)",
    "negative": "negative times (clamped to 0)",
    "not finite": "not finite times (dropped)",
    "surrogates": "unpaired UTF-16 surrogates in the text (replaced by U+FFFD)",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_text(cue: Cue, counts: dict[str, int]) -> Cue:
    text, n = _SURROGATE.subn("\ufffd", cue.text)
    if not n:
        return cue
    counts["surrogates"] += 1
    words = tuple(replace(w, text=_SURROGATE.sub("\ufffd", w.text)) for w in cue.words)
    return replace(cue, text=text, words=words)


def _fix_times(cue: Cue, counts: dict[str, int]) -> Cue | None:
    start, end = cue.start, cue.end
    if not (math.isfinite(start) and math.isfinite(end)):
        counts["not finite"] += 1
        return None
    text = clean_text(cue.text, markup=False)
    if not has_words(text):
        return None
    if start < 0 or end < 0:
        counts["negative"] += 1
        start, end = max(0.0, start), max(0.0, end)
    if end < start:
        counts["reversed"] += 1
        start, end = end, start
    if (start, end, text) == (cue.start, cue.end, cue.text):
        return cue
    return Cue(start, end, text, _words_for(cue.words, text))


def _words_for(words: tuple[Word, ...], text: str) -> tuple[Word, ...]:
    """The cue's word times, cleaned like its text; () when they no longer match the text
    (a label spanning several timed words, say)."""
    if not words:
        return ()
    kept = []
    for word in words:
        clean = clean_text(word.text, markup=False)
        if clean and math.isfinite(word.start):
            kept.extend(Word(max(0.0, word.start), part) for part in clean.split())
    return tuple(kept) if [w.text for w in kept] == text.split() else ()


def clamp_to_duration(
    cues: Sequence[Cue], duration: float, where: str | Path, *, warn: Warn | None = None
) -> list[Cue]:
    """Cues inside a video of `duration` seconds: a cue starting at or after the end is dropped,
    one ending after it is cut there (its words' times too). One warning line when anything was
    dropped, or cut by more than `CLAMP_WARN_S` (rounding at the last frame is not news)."""
    warn = warn or _log_warning
    kept: list[Cue] = []
    dropped = cut = 0
    for cue in cues:
        if cue.start >= duration:
            dropped += 1
            continue
        if cue.end > duration:
            cut += cue.end - duration > CLAMP_WARN_S
            words = tuple(Word(min(w.start, duration), w.text) for w in cue.words)
            cue = Cue(cue.start, duration, cue.text, words)
        kept.append(cue)
    if cues and not kept:
        raise InputError(where, f"every cue starts after the video's end ({duration:.1f} s)")
    if dropped or cut:
        warn(
            f"{where}: {dropped + cut} cue(s) past the video's end ({duration:.1f} s):"
            f" {dropped} dropped, {cut} cut at the end"
        )
    return kept


def _log_warning(message: str) -> None:
    logging.getLogger("aligner.subtitles").warning(message)
