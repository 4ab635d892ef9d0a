"""Subtitle files: read WebVTT (incl. YouTube rolling auto-captions), SRT and HowTo100M JSON;
write WebVTT and SRT.

Every reader returns a list of `Cue`s in time order; a file that cannot be read raises
`InputError(path, "what is wrong")`. What the readers repair instead of refusing (each repair is
one warning line naming the file, through the `warn` callback):
  - not UTF-8: decoded as cp1252 (then latin-1, which never fails); real-world subtitles in
    Western languages are nearly always one of these, and a wrong guess only garbles accents;
  - negative times clamped to 0; a cue ending before it starts has start and end swapped;
  - cues sorted by start; back-to-back repeats of one text merged; an overlap trimmed so each
    phrase ends where the next one starts (see `normalize_cues`);
  - WebVTT cue blocks with unreadable timings are skipped (webvtt-py ignores them) and counted.
YouTube rolling auto-captions (inline word times, each cue repeating the previous line) come
out as one cue per phrase with its own time and its words' times.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aligner.errors import InputError


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


# -- readers -----------------------------------------------------------------------------------
SUBTITLE_EXTENSIONS = (".vtt", ".srt", ".json")  # in order of preference for one video
FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # tried, with a warning, when a file is not UTF-8
INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}\.\d{1,3})>")  # YouTube word timestamps
CUE_TAG = re.compile(r"</?[^>]*>")  # <c>, </c>, <i>, <c.colorE5E5E5>, <v Name>, ...
ROLLING_SHARE = 0.5  # share of cues that repeat the previous cue's last line => rolling captions

Warn = Callable[[str], None]


def read_subtitles(path: str | Path, *, warn: Warn | None = None) -> list[Cue]:
    """Read a .vtt, .srt or HowTo100M .json subtitle file into time-ordered `Cue`s.

    Problems the reader repairs (not UTF-8, reversed or negative times, unreadable cue blocks)
    are reported through `warn` as one line naming the file; a file that cannot be read at
    all raises `InputError`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror or err})") from None
    return parse_subtitles(data, path, warn=warn)


def parse_subtitles(data: bytes, path: str | Path, *, warn: Warn | None = None) -> list[Cue]:
    """`read_subtitles` on bytes already read; `path` picks the format and names the file."""
    path = Path(path)
    warn = warn or _log_warning
    suffix = path.suffix.lower()
    if suffix not in SUBTITLE_EXTENSIONS:
        raise InputError(path, f"unknown subtitle format {suffix!r} (expected .vtt, .srt, .json)")
    if not data.strip():
        raise InputError(path, "empty subtitle file")
    text = decode_text(data, path, warn=warn)
    if suffix == ".json":
        cues = cues_from_json(_load_json(text, path), path)
    elif suffix == ".srt":
        cues = _read_srt(text, path, warn)
    else:
        cues = _read_vtt(text, path, warn)
    cues = normalize_cues(cues, path, warn=warn)
    if not cues:
        raise InputError(path, "no cues with text in the file")
    return cues


def decode_text(data: bytes, path: Path, *, warn: Warn) -> str:
    """UTF-8 (with or without BOM); otherwise cp1252 / latin-1 with a warning (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        for encoding in FALLBACK_ENCODINGS:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            warn(f"{path}: not UTF-8 (byte {err.start}); decoded as {encoding}")
            return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _load_json(text: str, path: Path):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            path, f"malformed JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None


def cues_from_json(entry, path: str | Path, *, video_id: str | None = None) -> list[Cue]:
    """HowTo100M captions `{"start": [s], "end": [s], "text": [str]}` -> raw `Cue`s (not yet
    normalised). `video_id` names the entry of a dataset-wide caption.json in messages."""
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
    cues = []
    for i, (start, end, text) in enumerate(zip(starts, ends, texts, strict=True)):
        try:
            cues.append(Cue(float(start), float(end), "" if text is None else str(text)))
        except (TypeError, ValueError):
            raise InputError(
                where, f"{prefix}item {i}: times must be numbers, got {start!r}, {end!r}"
            ) from None
    return cues


def _read_srt(text: str, path: Path, warn: Warn) -> list[Cue]:
    import webvtt

    try:
        captions = webvtt.WebVTT.from_buffer(io.StringIO(text), format="srt").captions
    except (webvtt.errors.MalformedFileError, webvtt.errors.MalformedCaptionError) as err:
        raise InputError(path, f"not a valid SRT file ({err})") from None
    _warn_skipped_blocks(text, captions, path, warn)
    return [Cue(_seconds(c.start_time), _seconds(c.end_time), _clean(c.text)) for c in captions]


def _read_vtt(text: str, path: Path, warn: Warn) -> list[Cue]:
    import webvtt

    try:
        captions = webvtt.WebVTT.from_string(text).captions
    except (webvtt.errors.MalformedFileError, webvtt.errors.MalformedCaptionError) as err:
        raise InputError(
            path, f"not a valid WebVTT file ({err}; it must start with WEBVTT)"
        ) from None
    _warn_skipped_blocks(text, captions, path, warn)
    if _is_rolling(captions):
        return _rolling_cues(captions)
    return [
        Cue(_seconds(c.start_time), _seconds(c.end_time), _clean(" ".join(c.lines)))
        for c in captions
    ]


def _warn_skipped_blocks(text: str, captions, path: Path, warn: Warn) -> None:
    # webvtt-py silently ignores cue blocks it cannot parse (e.g. a negative timestamp)
    arrows = sum("-->" in line for line in text.splitlines())
    if arrows > len(captions):
        warn(f"{path}: skipped {arrows - len(captions)} cue block(s) with unreadable timings")


def _is_rolling(captions) -> bool:
    """YouTube auto-captions: inline word times, or each cue repeating the previous last line."""
    if any(INLINE_TIME.search(line) for c in captions for line in c.lines):
        return True
    lines = [[x for x in map(_clean, c.lines) if x] for c in captions]  # each cleaned once
    repeats = sum(
        bool(prev and cur and cur[0] == prev[-1])
        for prev, cur in zip(lines, lines[1:], strict=False)
    )
    return len(captions) > 1 and repeats >= ROLLING_SHARE * (len(captions) - 1)


def _rolling_cues(captions) -> list[Cue]:
    """Each phrase once: a line with inline times is new; a plain line already shown is a repeat.

    YouTube shows the previous phrase above the new one (and in 10 ms "transition" cues), so a
    plain line equal to one of the last two phrases is dropped. A phrase keeps the timing of
    the cue that introduced it; its words keep their inline times.
    """
    cues: list[Cue] = []
    recent: list[str] = []  # the last two phrases emitted
    for caption in captions:
        start, end = _seconds(caption.start_time), _seconds(caption.end_time)
        for line in caption.lines:
            plain = _clean(line)
            if not plain:
                continue
            if INLINE_TIME.search(line):
                words = _inline_words(line, start)
                cues.append(Cue(words[0].start if words else start, end, plain, tuple(words)))
            elif plain in recent:
                continue
            else:
                cues.append(Cue(start, end, plain))
            recent = [*recent[-1:], plain]
    return cues


def _inline_words(line: str, cue_start: float) -> list[Word]:
    """'so<00:00:01.500><c> today</c>' -> [Word(cue_start, 'so'), Word(1.5, 'today')]."""
    parts = INLINE_TIME.split(line)  # text, time, text, time, text ...
    words = []
    time = cue_start
    for i, part in enumerate(parts):
        if i % 2 == 1:
            time = _timestamp_seconds(part)
            continue
        words.extend(Word(time, w) for w in _clean(part).split())
    return words


def normalize_cues(cues: Sequence[Cue], path: str | Path, *, warn: Warn | None = None) -> list[Cue]:
    """Repair cue times the same way for every format (documented choices):

    - cues without text, or with a time that is not a finite number, are dropped;
    - negative times are clamped to 0; a cue whose end is before its start is swapped
      (the text is kept, a warning names the file);
    - cues are sorted by start time (stable, so equal starts keep file order);
    - the same text repeated in back-to-back overlapping cues (raw HowTo100M captions) is
      merged into one cue;
    - a cue that overlaps the next one ends where the next one starts, so every phrase has
      its own time (raw captions keep each line on screen while the next is said).
    """
    warn = warn or _log_warning
    counts = {"reversed": 0, "negative": 0, "not finite": 0}
    fixed = [c for c in (_fix_times(cue, counts) for cue in cues) if c is not None and c.text]
    for problem, n in counts.items():
        if n:
            warn(f"{path}: {n} cue(s) with {problem} times ({_REPAIR[problem]})")
    fixed.sort(key=lambda c: c.start)
    merged: list[Cue] = []
    for cue in fixed:
        prev = merged[-1] if merged else None
        if prev is not None and cue.text == prev.text and cue.start <= prev.end:
            merged[-1] = replace(prev, end=max(prev.end, cue.end))
            continue
        if prev is not None and cue.start > prev.start and prev.end > cue.start:
            merged[-1] = replace(prev, end=cue.start)
        merged.append(cue)
    return merged


_REPAIR = {"reversed": "start and end swapped", "negative": "clamped to 0", "not finite": "dropped"}


def _fix_times(cue: Cue, counts: dict[str, int]) -> Cue | None:
    start, end = cue.start, cue.end
    if not (math.isfinite(start) and math.isfinite(end)):
        counts["not finite"] += 1
        return None
    if start < 0 or end < 0:
        counts["negative"] += 1
        start, end = max(0.0, start), max(0.0, end)
    if end < start:
        counts["reversed"] += 1
        start, end = end, start
    text = _clean(cue.text)
    if (start, end, text) == (cue.start, cue.end, cue.text):
        return cue
    words = tuple(Word(max(0.0, w.start), w.text) for w in cue.words)
    return Cue(start, end, text, words)


def _clean(text: str) -> str:
    """Drop cue tags and collapse whitespace: '<c> today</c>\\n now' -> 'today now'."""
    return " ".join(html.unescape(CUE_TAG.sub("", text)).split())


def _seconds(timestamp) -> float:
    return timestamp.in_milliseconds() / 1000.0


def _timestamp_seconds(value: str) -> float:
    fields = [float(x) for x in value.split(":")]
    return sum(f * 60**i for i, f in enumerate(reversed(fields)))


def _log_warning(message: str) -> None:
    logging.getLogger(__name__).warning(message)


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
