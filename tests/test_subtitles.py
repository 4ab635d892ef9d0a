"""Subtitle readers (WebVTT incl. YouTube rolling captions, SRT, HowTo100M JSON) and writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aligner.errors import InputError
from aligner.subtitles import Cue, read_subtitles, write_srt, write_vtt

# YouTube auto-captions: each cue shows the previous phrase above the new one (which carries
# inline word times), with 10 ms "transition" cues in between that repeat the last phrase.
ROLLING_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.350 align:start position:0%
\x20
so<00:00:00.480><c> today</c><00:00:00.880><c> we're</c><00:00:01.120><c> going</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
so today we're going
\x20

00:00:02.360 --> 00:00:05.110 align:start position:0%
so today we're going
to<00:00:02.800><c> make</c><00:00:03.120><c> a</c><00:00:03.360><c> cake</c>

00:00:05.110 --> 00:00:05.120 align:start position:0%
to make a cake
\x20

00:00:05.120 --> 00:00:08.000 align:start position:0%
to make a cake
<00:00:05.400><c>first</c><00:00:05.900><c> crack</c><00:00:06.300><c> two</c><00:00:06.700><c> eggs</c>

00:00:08.000 --> 00:00:08.010 align:start position:0%
first crack two eggs
\x20
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_rolling_captions_give_each_phrase_once_with_its_own_time(tmp_path):
    cues = read_subtitles(write(tmp_path, "roll.vtt", ROLLING_VTT))
    assert [c.text for c in cues] == [
        "so today we're going",
        "to make a cake",
        "first crack two eggs",
    ]
    assert [(c.start, c.end) for c in cues] == [(0.0, 2.35), (2.36, 5.11), (5.4, 8.0)]
    # words keep their inline times; a word before the first tag starts with the cue
    assert [(w.start, w.text) for w in cues[1].words] == [
        (2.36, "to"), (2.8, "make"), (3.12, "a"), (3.36, "cake"),
    ]  # fmt: skip
    assert cues[2].words[0].start == 5.4


def test_rolling_captions_without_word_times_are_deduplicated(tmp_path):
    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nfirst line here\n\n"
        "00:00:03.000 --> 00:00:05.000\nfirst line here\nsecond line now\n\n"
        "00:00:05.000 --> 00:00:07.000\nsecond line now\nthird and last\n"
    )
    cues = read_subtitles(write(tmp_path, "r.vtt", vtt))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.0, "first line here"),
        (3.0, 5.0, "second line now"),
        (5.0, 7.0, "third and last"),
    ]


def test_plain_vtt_joins_lines_and_strips_tags(tmp_path):
    vtt = (
        "WEBVTT\n\nNOTE a comment\n\nintro\n00:00:01.000 --> 00:00:02.500\n"
        "<v Cook>Cut the <b>onion</b>\ninto rings &amp; fry.\n\n"
        "00:00:03.000 --> 00:00:04.000\nServe.\n"
    )
    cues = read_subtitles(write(tmp_path, "p.vtt", vtt))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.5, "Cut the onion into rings & fry."),
        (3.0, 4.0, "Serve."),
    ]


def test_srt(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\n<i>Hello</i> there\n\n2\n00:01:02,500 --> 00:01:04,000\nBye.\n"
    cues = read_subtitles(write(tmp_path, "a.srt", srt))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.0, "Hello there"),
        (62.5, 64.0, "Bye."),
    ]


def test_howto100m_json_overlaps_trimmed_and_repeats_merged(tmp_path):
    data = {
        "start": [0.0, 2.0, 2.5, 6.0],
        "end": [4.0, 5.0, 5.5, 8.0],
        "text": ["lay the tomatoes", "on the tray", "on the tray", "and bake them"],
    }
    cues = read_subtitles(write(tmp_path, "v.json", json.dumps(data)))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.0, 2.0, "lay the tomatoes"),  # ends where the next phrase starts
        (2.0, 5.5, "on the tray"),  # the repeat is merged into one cue
        (6.0, 8.0, "and bake them"),
    ]


@pytest.mark.parametrize("writer,name", [(write_vtt, "out.vtt"), (write_srt, "out.srt")])
def test_writers_round_trip(tmp_path, writer, name):
    cues = [Cue(0.5, 2.25, "Add the flour."), Cue(3.0, 3661.5, "Stir well, then rest.")]
    writer(cues, tmp_path / name)
    assert [(c.start, c.end, c.text) for c in read_subtitles(tmp_path / name)] == [
        (0.5, 2.25, "Add the flour."),
        (3.0, 3661.5, "Stir well, then rest."),
    ]


def test_cp1252_is_decoded_with_a_warning(tmp_path):
    path = write(
        tmp_path, "w.srt", "1\n00:00:01,000 --> 00:00:02,000\nCafé – crème\n".encode("cp1252")
    )
    warnings: list[str] = []
    cues = read_subtitles(path, warn=warnings.append)
    assert cues[0].text == "Café – crème"
    assert len(warnings) == 1 and str(path) in warnings[0] and "cp1252" in warnings[0]


def test_reversed_negative_and_unsorted_times_are_repaired(tmp_path):
    data = {"start": [5.0, -1.0, 3.0], "end": [6.0, 1.0, 2.0], "text": ["c", "a", "b"]}
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "t.json", json.dumps(data)), warn=warnings.append)
    # negative clamped to 0, reversed swapped, then sorted by start
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.0, 1.0, "a"),
        (2.0, 3.0, "b"),
        (5.0, 6.0, "c"),
    ]
    assert any("reversed" in w for w in warnings) and any("negative" in w for w in warnings)


def test_vtt_with_an_unreadable_timing_is_reported(tmp_path):
    vtt = "WEBVTT\n\n-00:00:01.000 --> 00:00:02.000\nbad\n\n00:00:03.000 --> 00:00:04.000\ngood\n"
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "n.vtt", vtt), warn=warnings.append)
    assert [c.text for c in cues] == ["good"]
    assert warnings and "skipped 1 cue block" in warnings[0]


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("empty.vtt", "", "empty subtitle file"),
        ("header.vtt", "WEBVTT\nKind: captions\n\n", "no cues"),
        ("nothdr.vtt", "00:00:01.000 --> 00:00:02.000\nhi\n", "not a valid WebVTT"),
        ("bad.json", '{"start": [1, 2], "end": [2, 3], "text": ["a"', "malformed JSON"),
        (
            "len.json",
            '{"start": [1, 2], "end": [2, 3], "text": ["a"]}',
            "different lengths (2, 2, 1)",
        ),
        ("notsrt.srt", "hello\nworld\n", "not a valid SRT"),
        ("x.txt", "hello", "unknown subtitle format"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, name, content, problem):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as err:
        read_subtitles(path)
    assert str(path) in str(err.value) and problem in str(err.value)
    assert "\n" not in str(err.value)


# -- issue 11's defects, each on a fixture written here -----------------------------------------
def texts(cues) -> list[str]:
    return [c.text for c in cues]


def test_howto100m_repeated_lines_are_kept_once(tmp_path):
    # raw_caption.json: each caption's second line is the next caption's first line
    data = {
        "start": [0.0, 2.1, 4.2, 6.0, 8.3, 10.0],
        "end": [4.2, 6.0, 8.3, 10.0, 12.5, 12.6],
        "text": [
            "the process in a",
            "the process in a\nbowl add the flour",
            "bowl add the flour\nand about a cup of",
            "[Music]",
            "and about a cup of\nwater let's begin",
            "-",
        ],
    }
    cues = read_subtitles(write(tmp_path, "raw.json", json.dumps(data)))
    said = " ".join(texts(cues))
    assert said == "the process in a bowl add the flour and about a cup of water let's begin"
    assert not any("Music" in c.text or c.text == "-" for c in cues)  # label, empty fragment
    # each line stays with the caption where it first appeared (when it was said)
    assert [(c.start, c.text) for c in cues][:2] == [
        (0.0, "the process in a"),
        (2.1, "bowl add the flour"),
    ]


def test_howto100m_growing_captions_keep_only_what_each_adds(tmp_path):
    data = {"start": [0.0, 1.0, 2.0], "end": [1.0, 2.0, 3.0],
            "text": ["how to", "how to make", "how to make a cake"]}  # fmt: skip
    cues = read_subtitles(write(tmp_path, "grow.json", json.dumps(data)))
    assert texts(cues) == ["how to", "make", "a cake"]


SRT_UNICODE = "1\n00:00:01,000 --> 00:00:02,000\nCrème brûlée – déjà vu ☕\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_bom_decides_the_encoding(tmp_path, encoding):
    data = SRT_UNICODE.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    if encoding == "utf-32-be":
        data = b"\x00\x00\xfe\xff" + data
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, f"{encoding}.srt", data), warn=warnings.append)
    assert texts(cues) == ["Crème brûlée – déjà vu ☕"] and warnings == []


def test_utf16_without_bom_is_recognised(tmp_path):
    vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nnaïve café\n"
    cues = read_subtitles(write(tmp_path, "le.vtt", vtt.encode("utf-16-le")))
    assert texts(cues) == ["naïve café"]


def test_srt_without_cue_numbers(tmp_path):
    srt = (
        "00:00:01,000 --> 00:00:02,000\nfirst line\n\n00:00:03,000 --> 00:00:04,500\nsecond\nline\n"
    )
    cues = read_subtitles(write(tmp_path, "nonum.srt", srt))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.0, "first line"), (3.0, 4.5, "second line"),
    ]  # fmt: skip


def test_entities_are_unescaped_after_tags_are_stripped(tmp_path):
    vtt = "WEBVTT\n\n00:01.000 --> 00:03.000\n<i>if x &lt; 5 and y &gt; 3</i> then return\n"
    assert texts(read_subtitles(write(tmp_path, "e.vtt", vtt))) == [
        "if x < 5 and y > 3 then return"
    ]


def test_bare_angle_brackets_in_srt_are_text(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:03,000\nif a < b and c > d use <b>bold</b>\n"
    assert texts(read_subtitles(write(tmp_path, "lt.srt", srt))) == ["if a < b and c > d use bold"]


def test_json_text_is_never_stripped_of_markup(tmp_path):
    data = {"start": [0.0], "end": [2.0], "text": ["a < b and c > d & e. <i>x</i> &lt;"]}
    cues = read_subtitles(write(tmp_path, "m.json", json.dumps(data)))
    assert texts(cues) == ["a < b and c > d & e. <i>x</i> &lt;"]


def test_same_start_cues_never_send_word_times_backwards(tmp_path):
    from aligner.sentencify import sentencify

    srt = (
        "1\n00:00:02,000 --> 00:00:06,000\nand then we pour\n\n"
        "2\n00:00:02,000 --> 00:00:03,000\nthe milk slowly\n\n"
        "3\n00:00:06,000 --> 00:00:07,000\ninto the bowl\n"
    )
    cues = read_subtitles(write(tmp_path, "same.srt", srt))
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    sentences = sentencify(cues, already_sentences=False)
    starts = [w.start for s in sentences for w in s.words]
    assert starts == sorted(starts) and all(s.end >= s.start for s in sentences)
    assert " ".join(s.text for s in sentences) == "and then we pour the milk slowly into the bowl"


@pytest.mark.parametrize("first_line", ["", " "], ids=["empty", "space"])
def test_youtube_cue_whose_first_text_line_is_empty_keeps_its_timed_line(tmp_path, first_line):
    vtt = (
        "WEBVTT\nKind: captions\nLanguage: en\n\n"
        f"00:00:01.000 --> 00:00:03.500 align:start position:0%\n{first_line}\n"
        "put<00:00:01.400><c> the</c><00:00:01.900><c> pan</c><00:00:02.300><c> on</c>\n\n"
        "00:00:03.500 --> 00:00:03.510 align:start position:0%\nput the pan on\n \n\n"
        "00:00:03.510 --> 00:00:06.000 align:start position:0%\nput the pan on\n"
        "the<00:00:04.000><c> stove</c>\n"
    )
    cues = read_subtitles(write(tmp_path, "yt.vtt", vtt))
    assert [(c.start, c.text) for c in cues] == [(1.0, "put the pan on"), (3.51, "the stove")]
    assert [w.start for w in cues[0].words] == [1.0, 1.4, 1.9, 2.3]


def test_a_word_does_not_stretch_across_a_long_silence(tmp_path):
    from aligner.sentencify import MAX_WORD_S, sentencify

    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:20.000 align:start position:0%\n"
        "stir<00:00:01.300><c> it</c><00:00:01.600><c> well</c>\n\n"
        "00:00:20.000 --> 00:00:22.000 align:start position:0%\n"
        "now<00:00:20.400><c> bake</c>\n"
    )
    sentences = sentencify(read_subtitles(write(tmp_path, "gap.vtt", vtt)))
    assert [s.text for s in sentences] == ["stir it well", "now bake"]
    assert sentences[0].end == pytest.approx(1.6 + MAX_WORD_S)  # not 20.0


def test_sound_speaker_labels_and_ssa_overrides_are_stripped(tmp_path):
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\n[Intro]\n\n"
        "2\n00:00:02,000 --> 00:00:04,000\n{\\an8}>> ALICE: [llora] hola\\hamigos\n\n"
        "3\n00:00:04,000 --> 00:00:06,000\n- MAN 1: (LAUGHS) Note: stir ♪ gently ♪\n"
    )
    cues = read_subtitles(write(tmp_path, "labels.srt", srt))
    assert texts(cues) == ["hola amigos", "Note: stir gently"]


# -- the shapes real files come in (written after public examples; no file copied) --------------
YT_DLP_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.030 align:start position:0%
\x20
[Music]

00:00:02.030 --> 00:00:02.040 align:start position:0%
[Music]
\x20

00:00:02.040 --> 00:00:04.390 align:start position:0%
[Music]
&gt;&gt; hi<00:00:02.440><c> everyone</c><00:00:02.960><c> and</c><00:00:03.200><c> welcome</c><00:00:03.520><c> back</c>

00:00:04.390 --> 00:00:04.400 align:start position:0%
&gt;&gt; hi everyone and welcome back
\x20

00:00:04.400 --> 00:00:07.110 align:start position:0%
&gt;&gt; hi everyone and welcome back
today<00:00:04.800><c> we're</c><00:00:05.120><c> making</c><00:00:05.600><c> bread</c>
"""

W3C_VTT = """WEBVTT - This file has cues.

STYLE
::cue(.yellow) { color: yellow; }
::cue(v[voice="Bob"]) { color: cyan }

REGION
id:fred width:40% lines:3 regionanchor:0%,100% viewportanchor:10%,90% scroll:up

NOTE This is a comment
that runs over two lines

intro
00:11.000 --> 00:13.000 region:fred align:left
<v Roger Bingham>We are in New York City</v>

2
00:13.000 --> 00:16.000 line:0 position:20% size:60% align:start
<v.loud Neil>We're <c.yellow>actually</c> at the <b>hotel</b>,
<i>just</i> down the street

NOTE another comment

00:16.000 --> 00:18.000
- [ Bats Screeching ]
- They <u>won't</u> get in your hair &amp; <lang fr>voilà</lang>.

00:01:18.500 --> 00:01:20.000 vertical:rl
<ruby>漢<rt>kan</rt>字<rt>ji</rt></ruby> is kanji
"""


def test_yt_dlp_auto_captions(tmp_path):
    cues = read_subtitles(write(tmp_path, "abc.en.vtt", YT_DLP_VTT))
    assert texts(cues) == ["hi everyone and welcome back", "today we're making bread"]
    assert [w.start for w in cues[0].words] == [2.04, 2.44, 2.96, 3.2, 3.52]
    assert cues[1].start == 4.4 and cues[1].end == 7.11


def test_w3c_style_webvtt(tmp_path):
    cues = read_subtitles(write(tmp_path, "w3c.vtt", W3C_VTT))
    assert [(c.start, c.end, c.text) for c in cues] == [
        (11.0, 13.0, "We are in New York City"),
        (13.0, 16.0, "We're actually at the hotel, just down the street"),
        (16.0, 18.0, "They won't get in your hair & voilà."),
        (78.5, 80.0, "漢字 is kanji"),
    ]


def _srt_variant(numbers: bool, newline: str) -> str:
    blocks = [
        ("00:00:01,000 --> 00:00:03,000  ",
         '<i>Crème brûlée,</i>   \n<font color="#ffff00">s\'il vous plaît</font>'),
        ("00:00:03,500 --> 00:00:05,000", "{\\an8}Ça coûte 5 €\n\nà emporter"),  # blank inside
        ("00:00:05,000 --> 00:00:06,000 X1:100 X2:200 Y1:10 Y2:20", "<b>Fin</b>."),
    ]  # fmt: skip
    out = []
    for i, (timing, text) in enumerate(blocks, start=1):
        out.append((f"{i}\n" if numbers else "") + f"{timing}\n{text}\n")
    return newline.join("\n".join(out).split("\n")) + newline


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("numbers", [True, False], ids=["numbered", "unnumbered"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_srt_variants(tmp_path, encoding, numbers, newline):
    data = _srt_variant(numbers, newline).encode(encoding)
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "movie.srt", data), warn=warnings.append)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.0, "Crème brûlée, s'il vous plaît"),
        (3.5, 5.0, "Ça coûte 5 € à emporter"),
        (5.0, 6.0, "Fin."),
    ]
    assert len(warnings) == (encoding == "cp1252")


def test_latin1_srt(tmp_path):
    data = "1\r\n00:00:01,000 --> 00:00:02,000\r\nGrüße aus Köln\r\n".encode("latin-1")
    warnings: list[str] = []
    assert texts(read_subtitles(write(tmp_path, "l.srt", data), warn=warnings.append)) == [
        "Grüße aus Köln"
    ]
    assert len(warnings) == 1 and "not UTF-8" in warnings[0]


def test_srt_cues_without_blank_lines_between_them(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\none\n2\n00:00:02,000 --> 00:00:03,000\ntwo\n"
    cues = read_subtitles(write(tmp_path, "tight.srt", srt))
    assert [(c.start, c.text) for c in cues] == [(1.0, "one"), (2.0, "two")]


def test_word_times_survive_cleaning_of_whisper_style_cues():
    from aligner.subtitles import Word, normalize_cues

    words = (Word(0.5, "[Music]"), Word(1.0, "now"), Word(1.4, "stir"), Word(1.9, "it."))
    (cue,) = normalize_cues([Cue(0.5, 2.5, "[Music]  now stir it.", words)], "asr")
    assert cue.text == "now stir it." and [(w.start, w.text) for w in cue.words] == [
        (1.0, "now"), (1.4, "stir"), (1.9, "it."),
    ]  # fmt: skip


# -- files bigger than one decoding chunk: read from disk a piece at a time ---------------------
def _long_srt(n: int, line: str) -> str:
    """`n` one-second cues of `line`."""
    stamp = "{:02d}:{:02d}:{:02d},{:03d}".format
    return "".join(
        f"{i + 1}\n{stamp(i // 3600, i // 60 % 60, i % 60, 0)} -->"
        f" {stamp(i // 3600, i // 60 % 60, i % 60, 900)}\n{line}\n\n"
        for i in range(n)
    )


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_srt_past_the_first_chunk(tmp_path, encoding):
    """BOM-less UTF-16 and UTF-16 with BOM, several decode chunks long: the streamed read
    gives every cue, the same as parsing the bytes in memory."""
    from aligner.subtitles import parse_subtitles
    from aligner.subtitles.text import CHECK_CHUNK

    line = "naïve café ☕ " * 20
    data = _long_srt(4000, line).encode(encoding)
    assert len(data) > 2 * CHECK_CHUNK
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "long.srt", data), warn=warnings.append)
    assert len(cues) == 4000 and set(texts(cues)) == {line.strip()}
    assert cues == parse_subtitles(data, "long.srt") and warnings == []


def test_utf8_character_across_a_chunk_boundary_is_not_a_decoding_error(tmp_path):
    from aligner.subtitles.text import CHECK_CHUNK

    head = "WEBVTT\n\n00:01.000 --> 00:02.000\n"
    pad = "x" * (CHECK_CHUNK - len(head) - 1)  # '€' (3 bytes) starts 1 byte before the boundary
    vtt = f"{head}{pad}€ and more\n"
    assert vtt.encode()[CHECK_CHUNK - 1 : CHECK_CHUNK + 2] == "€".encode()
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "edge.vtt", vtt), warn=warnings.append)
    assert texts(cues) == [f"{pad}€ and more"] and warnings == []


def test_stray_byte_past_the_first_chunk_names_its_offset(tmp_path):
    """One cp1252 byte 2 MB into a UTF-8 file: the whole file is decoded as cp1252 (not
    only what follows the byte) and the warning gives the byte's offset in the file."""
    from aligner.subtitles.text import CHECK_CHUNK

    good = _long_srt(4000, "plain words here " * 30).encode()
    bad = b"1\n00:00:00,000 --> 00:00:00,500\ncaf\xe9\n\n"
    data = good + bad
    offset = len(good) + bad.index(b"\xe9")
    assert offset > 2 * CHECK_CHUNK
    warnings: list[str] = []
    cues = read_subtitles(write(tmp_path, "late.srt", data), warn=warnings.append)
    assert warnings == [f"{tmp_path / 'late.srt'}: not UTF-8 (byte {offset}); decoded as cp1252"]
    assert "café" in texts(cues) and len(cues) == 4001
