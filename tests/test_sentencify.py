"""Merging ASR fragments into sentences (TAN's sentencify rules)."""

from __future__ import annotations

import pytest

from aligner.sentencify import SentencifyParams, fragment_words, sentencify
from aligner.subtitles import Cue, Word


def spans(sentences):
    return [(round(s.start, 3), round(s.end, 3), s.text) for s in sentences]


def test_fragments_are_merged_and_cut_at_sentence_punctuation():
    cues = [
        Cue(33.45, 36.84, "lay the tomatoes on the tray"),
        Cue(36.84, 39.69, "and these go into the oven. if you"),
        Cue(39.69, 41.67, "turn it down really low you can"),
        Cue(41.67, 43.77, "leave them in overnight!"),
    ]
    out = sentencify(cues)
    assert [s.text for s in out] == [
        "lay the tomatoes on the tray and these go into the oven.",
        "if you turn it down really low you can leave them in overnight!",
    ]
    # "oven." is word 6 of 8 in its fragment: it ends 6/8 of the way through (interpolated)
    assert out[0].start == 33.45
    assert out[0].end == pytest.approx(36.84 + (39.69 - 36.84) * 6 / 8)
    assert out[1].start == pytest.approx(out[0].end) and out[1].end == 43.77


def test_a_pause_longer_than_one_second_ends_a_sentence():
    cues = [Cue(0.0, 2.0, "first we chop"), Cue(2.5, 4.0, "the onions"), Cue(5.2, 7.0, "then fry")]
    assert spans(sentencify(cues)) == [
        (0.0, 4.0, "first we chop the onions"),
        (5.2, 7.0, "then fry"),
    ]


def test_long_sentences_are_cut_at_the_next_punctuation_past_twenty_words():
    words = [f"w{i}" for i in range(30)]
    words[10] += ","  # too early: a comma only cuts past 20 words
    words[24] += ","
    out = sentencify([Cue(0.0, 30.0, " ".join(words))])
    assert [len(s.text.split()) for s in out] == [25, 5]
    assert out[0].end == pytest.approx(25.0) and out[1].start == pytest.approx(25.0)


def test_unpunctuated_speech_is_cut_at_the_hard_cap():
    out = sentencify(
        [Cue(0.0, 100.0, " ".join(["word"] * 100))], SentencifyParams(hard_max_words=40)
    )
    assert [len(s.text.split()) for s in out] == [40, 40, 20]


def test_known_word_times_are_used():
    words = (Word(1.0, "put"), Word(1.2, "it"), Word(3.0, "in."), Word(3.1, "now"), Word(3.5, "go"))
    out = sentencify([Cue(1.0, 4.0, "put it in. now go", words)])
    assert spans(out) == [(1.0, 3.1, "put it in."), (3.1, 4.0, "now go")]
    assert [w.start for w in out[1].words] == [3.1, 3.5]


def test_interpolated_word_times_split_a_fragment_evenly():
    timed = fragment_words(Cue(10.0, 12.0, "a b c d"))
    assert [(w.start, w.end) for w in timed] == [
        (10.0, 10.5),
        (10.5, 11.0),
        (11.0, 11.5),
        (11.5, 12.0),
    ]


def test_subtitles_that_are_already_sentences_are_kept():
    cues = [Cue(0.0, 2.0, "Chop the onion."), Cue(2.0, 3.0, "Fry it!"), Cue(3.5, 5.0, "Done?")]
    assert sentencify(cues) == cues
    fragments = [Cue(0.0, 1.0, "no punctuation"), Cue(1.0, 2.0, "at all")]
    assert sentencify(fragments, already_sentences=True) == fragments
    assert [s.text for s in sentencify(fragments)] == ["no punctuation at all"]
