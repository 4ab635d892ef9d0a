"""Plan a synthetic video: its shots (steps and talking-head filler) and its narration.

Planning is pure and cheap (no pixels, no audio), so the noise statistics can be checked on
thousands of planned videos. Rendering (`draw`, `audio`, `encode`) only reads a `VideoPlan`.

Noise model (what makes the narration look like real ASR):
- each step is narrated with probability 1 - P_NEVER_NARRATED, by one sentence naming its concept;
- the sentence starts `offset` seconds after the step starts: offset ~ N(0, OFFSET_SD_S), or with
  probability P_FAR a far offset of FAR_OFFSET_S seconds either way;
- sentences never overlap: a later one is pushed back to leave MIN_GAP_S of silence, so the
  actual offsets are a little later than the drawn ones;
- unalignable chatter ("thanks for watching") makes up UNALIGNABLE_SHARE of the sentences and is
  said during filler: a greeting opens the video, a goodbye closes it, the rest falls in between.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aligner.synthetic.vocab import (
    CHATTER,
    CONCEPT_BY_NAME,
    CONCEPTS,
    GOODBYES,
    GREETINGS,
    Concept,
)

STEP_S = (4.0, 12.0)  # how long a step is shown, seconds (uniform)
FILLER_S = (3.0, 8.0)  # talking head between steps, seconds (uniform)
INTRO_S = (5.0, 9.0)  # talking head before the first step, seconds
OUTRO_S = (5.0, 8.0)  # talking head after the last step, seconds
P_NEVER_NARRATED = 0.15  # share of steps nobody talks about
OFFSET_SD_S = 4.0  # narration start minus step start, normal sd, seconds
P_FAR = 0.15  # share of narrated steps said far from where they are shown
FAR_OFFSET_S = (15.0, 40.0)  # |offset| of the far ones, seconds (uniform)
UNALIGNABLE_SHARE = (0.30, 0.40)  # share of sentences nothing shows, per video (uniform)
MIN_GAP_S = 1.2  # silence between two sentences: > 1 s, so a pause also separates them
SPEECH_S_PER_WORD = 0.36  # planned speaking time per word (espeak-ng at 160 wpm says ~0.3)
SPEECH_S_BASE = 0.3  # planned speaking time added per sentence, seconds
STEPS_PER_VIDEO = 6  # about how many steps a 60-120 s video has
ID_CHARS = string.ascii_letters + string.digits + "_"
ID_LENGTH = 11  # like a YouTube id


@dataclass(frozen=True)
class Shot:
    """A stretch of video: a `step` showing `concept`, or talking-head `filler`.

    Geometry is relative: (x, y) object centre as fractions of width/height, `scale` the object
    size as a fraction of min(width, height); `jitter` is a BGR offset added to the colours.
    """

    kind: str  # "step" | "filler"
    start: float  # seconds
    end: float
    concept: str | None = None
    x: float = 0.5
    y: float = 0.6
    scale: float = 0.3
    jitter: tuple[int, int, int] = (0, 0, 0)
    phase: float = 0.0  # motion phase, radians


@dataclass(frozen=True)
class Sentence:
    """One narration sentence: said from `start` to `end` (the ASR times).

    `shown` is the (start, end) of the step it names, None for chatter or a sentence that names
    nothing on screen; `far` says the offset was drawn from the far distribution.
    """

    text: str
    start: float
    end: float
    shown: tuple[float, float] | None = None
    concept: str | None = None
    far: bool = False

    @property
    def alignable(self) -> bool:
        return self.shown is not None

    def ground_truth(self) -> list:
        """HTM-Align row: [alignable 1|0, start_s, end_s, text]; shown times when alignable."""
        start, end = self.shown if self.shown else (self.start, self.end)
        return [int(self.alignable), round(start, 3), round(end, 3), self.text]


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    duration: float  # seconds
    shots: tuple[Shot, ...]
    sentences: tuple[Sentence, ...]  # in time order, never overlapping
    subtitle_format: str = "vtt"
    voice_seed: int = 0  # picks the narrator's pitch; seeds fragment cutting

    def ground_truth(self) -> list[list]:
        return [s.ground_truth() for s in self.sentences]


def video_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for video `index` of a dataset: plans don't depend on how many are made."""
    return np.random.default_rng([seed, index])


def make_video_id(rng: np.random.Generator) -> str:
    first = rng.choice(list(string.ascii_letters))
    rest = rng.choice(list(ID_CHARS), size=ID_LENGTH - 1)
    return str(first) + "".join(rest)


def speech_seconds(text: str) -> float:
    """Planned speaking time of a sentence, seconds (generous: rendering fits speech inside)."""
    return SPEECH_S_BASE + SPEECH_S_PER_WORD * len(text.split())


def plan_video(
    seed: int, index: int, *, duration: float, subtitle_format: str = "vtt"
) -> VideoPlan:
    """Plan video `index` of the dataset made with `seed`, `duration` seconds long."""
    rng = video_rng(seed, index)
    video_id = make_video_id(rng)
    shots = _plan_shots(rng, duration, _ConceptDeck(rng, seed, index))
    sentences = _plan_sentences(rng, shots, duration)
    voice_seed = int(rng.integers(0, 2**31))
    return VideoPlan(video_id, duration, tuple(shots), tuple(sentences), subtitle_format,
                     voice_seed)  # fmt: skip


# -- shots -------------------------------------------------------------------------------------
def _plan_shots(rng: np.random.Generator, duration: float, concepts: _ConceptDeck) -> list[Shot]:
    """Intro filler, then step / filler / step ... and an outro filler up to `duration`."""
    intro = min(rng.uniform(*INTRO_S), duration * 0.15)  # short videos: mostly steps
    outro = min(rng.uniform(*OUTRO_S), duration * 0.15)
    shots = [Shot("filler", 0.0, intro)]
    t = intro
    while True:
        length = rng.uniform(*STEP_S)
        if t + length > duration - outro:
            break
        shots.append(_step_shot(rng, concepts.draw(), t, t + length))
        t += length
        gap = rng.uniform(*FILLER_S)
        if t + gap + STEP_S[0] > duration - outro:
            break
        shots.append(Shot("filler", t, t + gap))
        t += gap
    shots.append(Shot("filler", t, duration))
    return shots


class _ConceptDeck:
    """Concepts drawn without replacement, reshuffled when used up (long videos repeat them).

    The first cards of video `index` continue one dataset-wide order (STEPS_PER_VIDEO apart per
    video), so that across a small dataset every concept is shown about equally often.
    """

    def __init__(self, rng: np.random.Generator, seed: int, index: int):
        order = np.random.default_rng([seed, 99]).permutation(len(CONCEPTS))
        first = np.roll(order, -index * STEPS_PER_VIDEO)[:STEPS_PER_VIDEO]
        self.rng, self.cards = rng, [CONCEPTS[i] for i in rng.permutation(first)]
        self.used: set[str] = set()

    def draw(self) -> Concept:
        if not self.cards:  # the concepts this video has not shown yet first, then all again
            fresh = [c for c in CONCEPTS if c.name not in self.used]
            if not fresh:  # every concept shown: start over
                self.used.clear()
                fresh = list(CONCEPTS)
            self.cards = [fresh[i] for i in self.rng.permutation(len(fresh))]
        card = self.cards.pop()
        self.used.add(card.name)
        return card


def _step_shot(rng: np.random.Generator, concept: Concept, start: float, end: float) -> Shot:
    jitter = tuple(int(v) for v in rng.integers(-18, 19, size=3))
    return Shot("step", start, end, concept.name, x=float(rng.uniform(0.35, 0.65)),
                y=float(rng.uniform(0.5, 0.65)), scale=float(rng.uniform(0.28, 0.4)),
                jitter=jitter, phase=float(rng.uniform(0, 2 * np.pi)))  # fmt: skip


# -- sentences ---------------------------------------------------------------------------------
def _plan_sentences(
    rng: np.random.Generator, shots: Sequence[Shot], duration: float
) -> list[Sentence]:
    wanted = [
        s for shot in shots if shot.kind == "step" for s in _narrate_step(rng, shot, duration)
    ]
    wanted += _chatter(rng, shots, n_alignable=len(wanted))
    return _place(wanted, duration)


def _narrate_step(rng: np.random.Generator, shot: Shot, duration: float) -> list[Sentence]:
    """Zero or one sentence naming the step, said at its drawn offset."""
    if rng.random() < P_NEVER_NARRATED:
        return []
    concept = CONCEPT_BY_NAME[shot.concept]
    text = str(rng.choice(concept.phrases))
    far = bool(rng.random() < P_FAR)
    if far:
        offset = rng.uniform(*FAR_OFFSET_S) * rng.choice([-1.0, 1.0])
        if not 0 <= shot.start + offset <= duration - speech_seconds(text):
            offset = -offset  # the other way fits better in a short video
    else:
        offset = rng.normal(0.0, OFFSET_SD_S)
    start = float(np.clip(shot.start + offset, 0.0, duration - speech_seconds(text)))
    return [Sentence(text, start, start + speech_seconds(text), (shot.start, shot.end),
                     concept.name, far)]  # fmt: skip


def _chatter(
    rng: np.random.Generator, shots: Sequence[Shot], *, n_alignable: int
) -> list[Sentence]:
    """Greeting, goodbye and enough chatter in between for the drawn unalignable share."""
    share = rng.uniform(*UNALIGNABLE_SHARE)
    # rounded at random, so that short videos (one or two steps) keep the share on average
    n_total = int(np.floor(n_alignable * share / (1 - share) + rng.random()))
    hello, bye = str(rng.choice(GREETINGS)), str(rng.choice(GOODBYES))
    said = [_at(hello, rng.uniform(0.3, 1.5)), _at(bye, shots[-1].start + rng.uniform(0.5, 1.5))]
    said = said[: min(2, n_total)]
    middle = [s for s in shots[1:-1] if s.kind == "filler"]
    lines = rng.permutation(len(CHATTER))
    for k in range(n_total - 2):
        if not middle:
            break
        shot = middle[int(rng.integers(len(middle)))]
        text = CHATTER[lines[k % len(lines)]]
        said.append(_at(text, rng.uniform(shot.start, max(shot.start, shot.end - 2.0))))
    return said  # `_place` pulls a goodbye that runs past the end back in


def _at(text: str, start: float) -> Sentence:
    return Sentence(text, float(start), float(start) + speech_seconds(text))


def _place(wanted: list[Sentence], duration: float) -> list[Sentence]:
    """Sort by wanted start and push later sentences back so none overlap (MIN_GAP_S apart);
    pull the tail forward again if it ran past the end; drop what still does not fit."""
    wanted = sorted(wanted, key=lambda s: (s.start, s.text))
    while wanted:
        placed, t = [], 0.0
        for s in wanted:
            start = max(s.start, t)
            placed.append(_moved(s, start))
            t = start + (s.end - s.start) + MIN_GAP_S
        limit = duration - 0.2
        for i in range(len(placed) - 1, -1, -1):
            s = placed[i]
            if s.end > limit:
                placed[i] = s = _moved(s, s.start - (s.end - limit))
            limit = s.start - MIN_GAP_S
        if placed[0].start >= 0:
            return placed
        wanted = wanted[:-2] + wanted[-1:]  # too much speech: drop one, keep the goodbye
    return []


def _moved(s: Sentence, start: float) -> Sentence:
    return Sentence(s.text, start, start + (s.end - s.start), s.shown, s.concept, s.far)
