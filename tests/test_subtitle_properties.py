"""Property-based tests (hypothesis) for the subtitle readers and sentencify: on any input they
never crash (a bad file is an `InputError`), times come out ordered and inside the video, and
every word a cue carries is kept exactly once."""

from __future__ import annotations

import json
import math
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aligner.errors import InputError
from aligner.sentencify import SentencifyParams, sentencify
from aligner.subtitles import Cue, clamp_to_duration, format_timestamp, parse_subtitles

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

times_ms = st.integers(min_value=0, max_value=200_000)
cue_specs = st.lists(st.tuples(times_ms, times_ms, st.integers(1, 6)), min_size=1, max_size=25)
any_time = st.one_of(
    st.floats(-10, 300, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0]),
)
json_specs = st.lists(st.tuples(any_time, any_time, st.integers(1, 6)), min_size=1, max_size=25)
params = st.builds(
    SentencifyParams,
    max_pause_s=st.floats(0.1, 5),
    soft_max_words=st.integers(2, 30),
    hard_max_words=st.integers(2, 50),
    max_word_s=st.floats(0.1, 5),
    already_sentences=st.sampled_from([None, True, False]),
)


def _words(specs) -> list[list[str]]:
    out, n = [], 0
    for *_times, count in specs:
        out.append([f"w{n + i}" for i in range(count)])
        n += count
    return out


def _vtt(specs, words) -> bytes:
    blocks = ["WEBVTT\n"]
    for (a, b, _n), ws in zip(specs, words, strict=True):
        blocks.append(
            f"{format_timestamp(a / 1000)} --> {format_timestamp(b / 1000)}\n{' '.join(ws)}\n"
        )
    return "\n".join(blocks).encode()


def _srt(specs, words, numbered: bool) -> bytes:
    blocks = []
    for i, ((a, b, _n), ws) in enumerate(zip(specs, words, strict=True), start=1):
        span = f"{format_timestamp(a / 1000, decimal=',')} --> {format_timestamp(b / 1000, decimal=',')}"
        blocks.append((f"{i}\n" if numbered else "") + f"{span}\n{' '.join(ws)}\n")
    return "\n".join(blocks).encode()


def _expected(starts_ends, words, duration: float) -> Counter:
    """The words of every cue with finite times that starts (after repairs) inside the video."""
    kept: Counter = Counter()
    for (a, b), ws in zip(starts_ends, words, strict=True):
        if math.isfinite(a) and math.isfinite(b) and min(max(a, 0), max(b, 0)) < duration:
            kept.update(ws)
    return kept


def _check(sentences: list[Cue], duration: float, expected: Counter) -> None:
    starts = [s.start for s in sentences]
    assert starts == sorted(starts)
    for s in sentences:
        assert 0.0 <= s.start <= s.end <= duration + 1e-9, s
        word_starts = [w.start for w in s.words]
        assert word_starts == sorted(word_starts)
    assert Counter(w for s in sentences for w in s.text.split()) == expected


def _pipeline(data: bytes, name: str, duration: float, p: SentencifyParams) -> list[Cue]:
    return sentencify(parse_subtitles(data, name, warn=lambda line: None, duration=duration), p)


@SETTINGS
@given(
    specs=cue_specs,
    duration=st.floats(0.1, 250),
    p=params,
    fmt=st.sampled_from(["vtt", "srt", "srt-nonum"]),
)
def test_vtt_and_srt_keep_every_word_once_inside_the_video(specs, duration, p, fmt):
    words = _words(specs)
    data = _vtt(specs, words) if fmt == "vtt" else _srt(specs, words, numbered=fmt == "srt")
    expected = _expected([(a / 1000, b / 1000) for a, b, _ in specs], words, duration)
    try:
        sentences = _pipeline(data, f"x.{fmt[:3]}", duration, p)
    except InputError as err:  # every cue starts after the video's end
        assert not expected and "after the video's end" in str(err)
        return
    _check(sentences, duration, expected)


@SETTINGS
@given(specs=json_specs, duration=st.floats(0.1, 250), p=params)
def test_json_with_any_times_keeps_every_timed_word_once(specs, duration, p):
    words = _words(specs)
    entry = {
        "start": [a for a, _, _ in specs],
        "end": [b for _, b, _ in specs],
        "text": [" ".join(w) for w in words],
    }
    expected = _expected([(a, b) for a, b, _ in specs], words, duration)
    try:
        sentences = _pipeline(json.dumps(entry).encode(), "x.json", duration, p)
    except InputError as err:  # no cue with a number for its times inside the video
        assert not expected, err
        return
    _check(sentences, duration, expected)


@SETTINGS
@given(
    words=st.lists(
        st.sampled_from(["a<b", "c>d", "&amp;", "x&y", "<i>", "1<2", "w"]), min_size=1, max_size=12
    )
)
def test_json_text_is_kept_verbatim(words):
    entry = {"start": [0.0], "end": [5.0], "text": [" ".join(words)]}
    cues = parse_subtitles(json.dumps(entry).encode(), "x.json")
    assert [c.text for c in cues] == [" ".join(words)]


FRAGMENTS = [
    "WEBVTT", "00:00:01.000 --> 00:00:02.000", "00:05.5 --> 00:01.0 align:start", "-->", "1",
    "<c>", "</c>", "<00:00:01.500>", "&lt;", "&amp;", "", " ", "NOTE", "STYLE", "[Music]", ">>",
    "ALICE:", "{\\an8}", "\\h", "word", "é", "-", "99:99:99,999 --> 00:00:00,000", "\ufeff",
]  # fmt: skip


@SETTINGS
@given(
    lines=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30),
    suffix=st.sampled_from([".vtt", ".srt", ".json"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]),
    duration=st.floats(0.1, 400000),
)
def test_any_file_is_cues_or_one_input_error(lines, suffix, encoding, duration):
    data = "\n".join(lines).encode(encoding, errors="replace")
    try:
        cues = parse_subtitles(data, f"fuzz{suffix}", warn=lambda line: None)
    except InputError as err:
        assert "\n" not in str(err) and str(err).startswith(f"fuzz{suffix}: ")
        return
    assert cues and all(math.isfinite(c.start) and 0 <= c.start <= c.end for c in cues)
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    assert all(c.text.strip() for c in cues)
    try:
        kept = clamp_to_duration(cues, duration, "fuzz", warn=lambda line: None)
    except InputError:
        assert all(c.start >= duration for c in cues)
        return
    for s in sentencify(kept):
        assert 0 <= s.start <= s.end <= duration
