"""Write a planned video's narration as subtitles, the ways ASR hands them out.

- `vtt`: plain WebVTT, one cue per sentence;
- `youtube`: YouTube rolling auto-captions: each cue repeats the previous line and adds the new
  phrase with inline word timestamps `<00:00:01.500><c> word</c>`;
- `srt`: SRT, sentences cut into fragments of a few words;
- `json`: HowTo100M per-video JSON `{"start": [...], "end": [...], "text": [...]}` of fragments;
- `caption`: the same fragments in the dataset-wide `caption.json`, overlapping in time and with
  the odd fragment repeated, as HowTo100M's raw captions are;
- `none`: no subtitles (the audio has to be transcribed).

Fragments never cross a sentence boundary and follow each other without a gap, so merging them at
. ? ! (or at pauses > 1 s) gives back exactly the planned sentences.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aligner.subtitles import Cue, Word, format_timestamp, write_srt, write_vtt
from aligner.synthetic.plan import Sentence, VideoPlan

FORMATS = ("vtt", "youtube", "srt", "json", "caption", "none")
FRAGMENT_WORDS = (3, 7)  # words per ASR fragment (uniform, inclusive)
CAPTION_OVERLAP_S = 0.8  # raw captions: a fragment stays up this long into the next one
P_REPEAT = 0.08  # raw captions: share of fragments that appear twice
YOUTUBE_HOLD_S = 0.6  # rolling captions: a phrase stays up this long after its last word


def words(s: Sentence) -> list[Word]:
    """The sentence's words with start times spread over its span in proportion to length."""
    tokens = s.text.split()
    weights = np.array([len(w) + 1 for w in tokens], np.float64)
    starts = (
        s.start + (s.end - s.start) * np.concatenate([[0], np.cumsum(weights)[:-1]]) / weights.sum()
    )
    return [Word(round(float(t), 3), w) for t, w in zip(starts, tokens, strict=True)]


def fragments(plan: VideoPlan) -> list[Cue]:
    """Each sentence cut into fragments of FRAGMENT_WORDS words, back to back in time."""
    rng = np.random.default_rng([plan.voice_seed, 7])
    out = []
    for s in plan.sentences:
        ws = words(s)
        i = 0
        while i < len(ws):
            n = int(rng.integers(FRAGMENT_WORDS[0], FRAGMENT_WORDS[1] + 1))
            part = ws[i : i + n]
            end = ws[i + n].start if i + n < len(ws) else s.end
            out.append(
                Cue(part[0].start, round(end, 3), " ".join(w.text for w in part), tuple(part))
            )
            i += n
    return out


def sentence_cues(plan: VideoPlan) -> list[Cue]:
    return [Cue(round(s.start, 3), round(s.end, 3), s.text) for s in plan.sentences]


def raw_caption(plan: VideoPlan) -> dict[str, list]:
    """HowTo100M raw_caption entry: fragments overlapping inside a sentence, a few repeated."""
    rng = np.random.default_rng([plan.voice_seed, 11])
    frags = fragments(plan)
    starts, ends, texts = [], [], []
    for k, cue in enumerate(frags):
        same_sentence = k + 1 < len(frags) and frags[k + 1].start == cue.end
        end = cue.end + CAPTION_OVERLAP_S if same_sentence else cue.end
        for _ in range(2 if rng.random() < P_REPEAT else 1):
            starts.append(cue.start)
            ends.append(round(min(end, frags[k + 1].end if same_sentence else end), 3))
            texts.append(cue.text)
    return {"start": starts, "end": ends, "text": texts}


def youtube_vtt_text(plan: VideoPlan) -> str:
    """YouTube auto-captions: rolling two-line cues with inline word timestamps."""
    blocks = ["WEBVTT\nKind: captions\nLanguage: en\n"]
    frags, previous = fragments(plan), " "
    for k, cue in enumerate(frags):
        following = frags[k + 1].start if k + 1 < len(frags) else plan.duration
        shown_until = round(min(following - 0.01, cue.end + YOUTUBE_HOLD_S), 3)
        timed = cue.words[0].text + "".join(
            f"<{format_timestamp(w.start)}><c> {w.text}</c>" for w in cue.words[1:]
        )
        blocks.append(_yt_block(cue.start, shown_until, previous, timed))
        blocks.append(_yt_block(shown_until, shown_until + 0.01, cue.text, " "))
        previous = cue.text
    return "\n".join(blocks)


def _yt_block(start: float, end: float, line1: str, line2: str) -> str:
    span = f"{format_timestamp(start)} --> {format_timestamp(end)} align:start position:0%"
    return f"{span}\n{line1}\n{line2}\n"


def write_subtitles(plan: VideoPlan, folder: Path) -> Path | None:
    """Write the plan's per-video subtitle file under `folder`; None for caption/none formats."""
    fmt, stem = plan.subtitle_format, folder / plan.video_id
    if fmt == "vtt":
        write_vtt(sentence_cues(plan), path := stem.with_suffix(".vtt"))
    elif fmt == "youtube":
        (path := stem.with_suffix(".vtt")).write_text(youtube_vtt_text(plan), encoding="utf-8")
    elif fmt == "srt":
        write_srt(fragments(plan), path := stem.with_suffix(".srt"))
    elif fmt == "json":
        frags = fragments(plan)
        data = {"start": [c.start for c in frags], "end": [c.end for c in frags],
                "text": [c.text for c in frags]}  # fmt: skip
        (path := stem.with_suffix(".json")).write_text(json.dumps(data, indent=1), encoding="utf-8")
    elif fmt in ("caption", "none"):
        return None
    else:
        raise ValueError(f"unknown subtitle format {fmt!r}; known: {', '.join(FORMATS)}")
    return path
