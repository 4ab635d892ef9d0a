"""Merge ASR fragments into sentences, the way TAN's `sentencify_text` pipeline does.

ASR subtitles come as fragments cut at a fixed on-screen width ("and these go into the oven
for about 90" / "minutes if you turn the oven down really"). Each fragment's words get times
(their own when known, else spread evenly over the fragment), then words are grouped into
sentences, cutting
  - after a word ending in sentence punctuation (. ! ?) while the sentence is short,
  - after a word ending in any punctuation (also , ; :) once it has `soft_max_words` words,
  - once it has `hard_max_words` words (unpunctuated ASR would otherwise run on),
  - at a pause longer than `max_pause_s` between two words.
A word lasts until the next word of its fragment starts, but at most `max_word_s`: the last
word of a caption would otherwise end at the caption's end and stretch a sentence across a
long silence. Word times never go backwards, even across fragments that overlap, so a sentence
never ends before it starts. A sentence runs from its first word's start to its last word's
end. Subtitles that are already sentences (nearly every cue ends in sentence punctuation, or
the caller says so: `aligner ingest --sentences-as-cues`) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from aligner.subtitles import Cue, Word

SENTENCE_END = (".", "!", "?", "…")
PARTIAL_STOP = (",", ";", ":", *SENTENCE_END)
CLOSING = "\"')]}»”’"  # stripped before looking at a word's last character
MAX_PAUSE_S = 1.0  # seconds of silence between two words that end a sentence (TAN: 1.0)
SOFT_MAX_WORDS = 20  # past this many words, any punctuation ends the sentence (TAN: 20)
HARD_MAX_WORDS = 40  # a sentence never grows past this many words
MAX_WORD_S = 1.5  # seconds a single word may last (a slow spoken word is under a second)
ALREADY_SENTENCES_SHARE = 0.9  # share of cues ending in . ! ? that means "already sentences"


@dataclass(frozen=True)
class SentencifyParams:
    """How fragments are merged; part of ingest's input key, so a change re-ingests."""

    max_pause_s: float = MAX_PAUSE_S
    soft_max_words: int = SOFT_MAX_WORDS
    hard_max_words: int = HARD_MAX_WORDS
    max_word_s: float = MAX_WORD_S
    already_sentences: bool | None = None  # None: decide from the punctuation of the cues


@dataclass(frozen=True, slots=True)
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
    return list(iter_sentences(cues, params, already_sentences=already_sentences))


def iter_sentences(
    cues: Sequence[Cue],
    params: SentencifyParams | None = None,
    *,
    already_sentences: bool | None = None,
) -> Iterator[Cue]:
    """`sentencify` one sentence at a time: only the current sentence's words are held, so a
    subtitle file of 200k cues never exists as millions of word objects at once."""
    params = params or SentencifyParams()
    flag = already_sentences if already_sentences is not None else params.already_sentences
    cues = [cue for cue in cues if cue.text.strip()]
    if flag is None:
        flag = looks_like_sentences(cues)
    if flag:
        yield from cues
        return
    for group in _group(_ordered_words(cues, params.max_word_s), params):
        yield _sentence(group)


def looks_like_sentences(cues: Sequence[Cue]) -> bool:
    """True when at least 90 % of the cues end in sentence punctuation."""
    if not cues:
        return False
    ended = sum(_ends_with(cue.text, SENTENCE_END) for cue in cues)
    return ended >= ALREADY_SENTENCES_SHARE * len(cues)


def fragment_words(cue: Cue, max_word_s: float = MAX_WORD_S) -> list[_TimedWord]:
    """The words of one fragment with start/end seconds.

    Known word starts (inline captions, Whisper) are used when they match the text; otherwise
    the fragment's span is split evenly between its words (TAN: `np.linspace` per fragment).
    A word ends where the next word of the fragment starts (the last one at the fragment's
    end), but lasts at most `max_word_s`.
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
    ends = [
        min(end, start + max_word_s)
        for start, end in zip(starts, [*starts[1:], cue.end], strict=True)
    ]
    return [_TimedWord(t, s, e) for t, s, e in zip(texts, starts, ends, strict=True)]


def _ordered_words(cues: Iterable[Cue], max_word_s: float) -> Iterator[_TimedWord]:
    """Every fragment's words in order, each starting no earlier than the one before ended
    (overlapping or same-start fragments would otherwise make time run backwards)."""
    floor = 0.0
    for cue in cues:
        for word in fragment_words(cue, max_word_s):
            start = max(word.start, floor)
            end = max(word.end, start)
            floor = end
            yield (
                word
                if (start, end) == (word.start, word.end)
                else _TimedWord(word.text, start, end)
            )


def _group(words: Iterable[_TimedWord], params: SentencifyParams) -> Iterator[list[_TimedWord]]:
    current: list[_TimedWord] = []
    words = iter(words)
    word = next(words, None)
    while word is not None:
        current.append(word)
        nxt = next(words, None)
        if nxt is None or _cut_after(current, word, nxt, params):
            yield current
            current = []
        word = nxt


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
