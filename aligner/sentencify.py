"""Merge ASR fragments into sentences, the way TAN's `sentencify_text` pipeline does.

ASR subtitles come as fragments cut at a fixed on-screen width ("and these go into the oven
for about 90" / "minutes if you turn the oven down really"). Each fragment's words get times
(their own when known, else spread evenly over the fragment), then words are grouped into
sentences, cutting
  - after a word ending in sentence punctuation (. ! ?) while the sentence is short,
  - after a word ending in any punctuation (also , ; :) once it has `soft_max_words` words,
  - once it has `hard_max_words` words (unpunctuated ASR would otherwise run on),
  - at a pause longer than `max_pause_s` between two words.
A sentence runs from its first word's start to its last word's end. Subtitles that are already
sentences (nearly every cue ends in sentence punctuation, or the caller says so) are kept as
they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from aligner.subtitles import Cue, Word

SENTENCE_END = (".", "!", "?", "…")
PARTIAL_STOP = (",", ";", ":", *SENTENCE_END)
CLOSING = "\"')]}»”’"  # stripped before looking at a word's last character
MAX_PAUSE_S = 1.0  # seconds of silence between two words that end a sentence (TAN: 1.0)
SOFT_MAX_WORDS = 20  # past this many words, any punctuation ends the sentence (TAN: 20)
HARD_MAX_WORDS = 40  # a sentence never grows past this many words
ALREADY_SENTENCES_SHARE = 0.9  # share of cues ending in . ! ? that means "already sentences"


@dataclass(frozen=True)
class SentencifyParams:
    """How fragments are merged; part of ingest's input key, so a change re-ingests."""

    max_pause_s: float = MAX_PAUSE_S
    soft_max_words: int = SOFT_MAX_WORDS
    hard_max_words: int = HARD_MAX_WORDS
    already_sentences: bool | None = None  # None: decide from the punctuation of the cues


@dataclass(frozen=True)
class _TimedWord:
    text: str
    start: float  # seconds
    end: float


def sentencify(
    cues: Sequence[Cue],
    params: SentencifyParams | None = None,
    *,
    already_sentences: bool | None = None,
) -> list[Cue]:
    """Time-ordered ASR fragments -> sentences (`Cue`s whose `words` carry each word's start).

    `already_sentences` (or `params.already_sentences`) True keeps the cues as they are, False
    always merges, None decides: cues that nearly all end in . ! ? are already sentences.
    """
    params = params or SentencifyParams()
    flag = already_sentences if already_sentences is not None else params.already_sentences
    cues = [cue for cue in cues if cue.text.strip()]
    if flag is None:
        flag = looks_like_sentences(cues)
    if flag:
        return list(cues)
    words = [word for cue in cues for word in fragment_words(cue)]
    return [_sentence(group) for group in _group(words, params)]


def looks_like_sentences(cues: Sequence[Cue]) -> bool:
    """True when at least 90 % of the cues end in sentence punctuation."""
    if not cues:
        return False
    ended = sum(_ends_with(cue.text, SENTENCE_END) for cue in cues)
    return ended >= ALREADY_SENTENCES_SHARE * len(cues)


def fragment_words(cue: Cue) -> list[_TimedWord]:
    """The words of one fragment with start/end seconds.

    Known word starts (inline captions, Whisper) are used when they match the text; otherwise
    the fragment's span is split evenly between its words (TAN: `np.linspace` per fragment).
    A word ends where the next word of the fragment starts; the last one at the fragment's end.
    """
    texts = cue.text.split()
    if not texts:
        return []
    if len(cue.words) == len(texts):
        starts = [min(max(w.start, cue.start), cue.end) for w in cue.words]
        starts = list(accumulate(starts, max))  # never go back in time
    else:
        step = (cue.end - cue.start) / len(texts)
        starts = [cue.start + i * step for i in range(len(texts))]
    ends = [*starts[1:], cue.end]
    return [_TimedWord(t, s, e) for t, s, e in zip(texts, starts, ends, strict=True)]


def _group(words: list[_TimedWord], params: SentencifyParams) -> list[list[_TimedWord]]:
    groups: list[list[_TimedWord]] = []
    current: list[_TimedWord] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None or _cut_after(current, word, nxt, params):
            groups.append(current)
            current = []
    return groups


def _cut_after(
    current: list[_TimedWord], word: _TimedWord, nxt: _TimedWord, params: SentencifyParams
) -> bool:
    n = len(current)
    if n < params.soft_max_words and _ends_with(word.text, SENTENCE_END):
        return True
    if n >= params.soft_max_words and _ends_with(word.text, PARTIAL_STOP):
        return True
    return n >= params.hard_max_words or nxt.start - word.end > params.max_pause_s


def _sentence(words: list[_TimedWord]) -> Cue:
    text = " ".join(w.text for w in words)
    return Cue(words[0].start, words[-1].end, text, tuple(Word(w.start, w.text) for w in words))


def _ends_with(text: str, marks: tuple[str, ...]) -> bool:
    return text.rstrip().rstrip(CLOSING).endswith(marks)
