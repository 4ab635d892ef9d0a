"""Plans of the quality suite's families: structurally different HowTo100M-style videos built from
natural photographs (`images.THINGS`), with narration noised like real ASR.

- `filler`: full-frame photos (slow pan and zoom) between talking-head filler; one thing a step.
- `workspace`: a full-frame workspace texture; each step a thing slides onto it, stays, leaves;
  no talking head in most videos; things recur within a video; mkv / webm / mp4 and three
  resolutions.
- `workspace_mixture`: the workspace with the filler's offsets; a check, not a suite family.
- `crowded`: long videos (5-12 min), two or three things in view at once (a collage), gradual
  cross-fades between steps, no filler; narration dense (a sentence per thing in view) in some
  videos and sparse (most steps unnarrated) in others.

Noise in every family: heavy-tailed offsets (up to +-40 s) between where a sentence is said and
where its thing is shown, never-narrated steps, chit-chat said at random times, and sentences
naming things absent from the video (shown in other videos of the folder). Planning is pure:
no pixels; `render` draws a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks.quality.images import THING_BY_NAME, THINGS

SAY_TEMPLATES = (
    "Now we look at the {n}.",
    "Here is the {n} up close.",
    "Next, put the {n} right here.",
    "Take the {n} and bring it into view.",
    "You can see the {n} right here.",
    "Let me show you the {n}.",
    "This is what the {n} looks like.",
    "Okay so now the {n}.",
)
ABSENT_TEMPLATES = SAY_TEMPLATES + (
    "Later on we will also need the {n}.",
    "I forgot to bring the {n} today.",
    "In another video I showed you the {n}.",
)
CHITCHAT = (
    "Thanks for watching, see you next time.",
    "Don't forget to subscribe to the channel.",
    "Let me know in the comments what you think.",
    "I hope you are all having a great day.",
    "So that is basically it for this part.",
    "Okay, let's keep going.",
    "This is one of my favourite things to do.",
    "Make sure you hit the like button.",
    "I will put a link in the description below.",
    "It really is that simple.",
    "Alright, moving on.",
    "Hi everyone and welcome back to my channel.",
    "Give me one second here.",
    "I have been doing this for years now.",
    "You don't need anything fancy for this.",
)
SECONDS_PER_WORD, SECONDS_BASE = 0.36, 0.3  # planned speaking time of a sentence
MIN_GAP_S = 1.2  # silence between two sentences
P_UNNARRATED = 0.15  # share of steps nobody talks about (sparse videos: more)
CHITCHAT_SHARE = 0.3  # chit-chat sentences per narrated step
ABSENT_SHARE = 0.1  # sentences naming an absent thing per narrated step


@dataclass(frozen=True)
class Shot:
    """A stretch of video: `kind` "head" (talking head), "photo" (full frame), "workspace"
    (things on a texture) or "collage" (things side by side); `things` in view."""

    kind: str
    start: float
    end: float
    things: tuple[str, ...] = ()
    seed: int = 0  # per-shot look: crop path, entry side, jitter


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float  # ASR times
    end: float
    shown: tuple[float, float] | None = None  # where what it names is shown; None: nothing

    def ground_truth(self) -> list:
        start, end = self.shown if self.shown else (self.start, self.end)
        return [int(self.shown is not None), round(start, 3), round(end, 3), self.text]


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    duration: float
    shots: tuple[Shot, ...]
    sentences: tuple[Sentence, ...]
    container: str = "mp4"
    size: tuple[int, int] = (160, 120)  # (width, height)
    fade_s: float = 0.0  # cross-fade between consecutive shots
    look: int = 0  # the video's talking head / workspace / backdrop
    subtitle_format: str = "vtt"


@dataclass
class _Narrator:
    """Draws ASR-like offsets with the family's distribution."""

    rng: np.random.Generator
    offset: Callable[[np.random.Generator], float]
    said: list[Sentence] = field(default_factory=list)

    def say(self, text: str, shown: tuple[float, float] | None, at: float) -> None:
        length = SECONDS_BASE + SECONDS_PER_WORD * len(text.split())
        start = at + (self.offset(self.rng) if shown else 0.0)
        self.said.append(Sentence(text, start, start + length, shown))


def mixture_offset(rng: np.random.Generator) -> float:
    """35% within +-2 s, 40% 5-15 s off, 25% 15-40 s off (either way)."""
    u, sign = rng.random(), rng.choice([-1.0, 1.0])
    if u < 0.35:
        return float(rng.uniform(-2, 2))
    return float(sign * (rng.uniform(5, 15) if u < 0.75 else rng.uniform(15, 40)))


def laplace_offset(rng: np.random.Generator) -> float:
    """Laplace with a 6 s scale, clipped to +-40 s (a heavy tail, a sharp centre)."""
    return float(np.clip(rng.laplace(0.0, 6.0), -40, 40))


def late_offset(rng: np.random.Generator) -> float:
    """Narrators who mostly talk after doing: N(+4, 5) s, 20% 15-40 s either way."""
    if rng.random() < 0.2:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(15, 40))
    return float(rng.normal(4.0, 5.0))


def _video_id(rng: np.random.Generator, family: str) -> str:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return family[:2] + "".join(rng.choice(list(letters), size=9))


def _noun(rng: np.random.Generator, thing: str) -> str:
    return str(rng.choice(THING_BY_NAME[thing].nouns))


def _narrate_step(nar: _Narrator, shot: Shot, thing: str, p_unnarrated: float) -> None:
    if nar.rng.random() < p_unnarrated:
        return
    text = str(nar.rng.choice(SAY_TEMPLATES)).format(n=_noun(nar.rng, thing))
    nar.say(text[0].upper() + text[1:], (shot.start, shot.end), shot.start)


def _noise_sentences(nar: _Narrator, n_steps: int, shown: set[str], duration: float) -> None:
    """Chit-chat at random times and sentences naming things this video never shows."""
    rng = nar.rng
    for _ in range(int(rng.poisson(CHITCHAT_SHARE * n_steps)) + 1):
        nar.say(str(rng.choice(CHITCHAT)), None, float(rng.uniform(0, duration - 4)))
    absent = [t.name for t in THINGS if t.name not in shown]
    for _ in range(int(rng.poisson(ABSENT_SHARE * n_steps)) if absent else 0):
        text = str(rng.choice(ABSENT_TEMPLATES)).format(n=_noun(rng, str(rng.choice(absent))))
        nar.say(text[0].upper() + text[1:], None, float(rng.uniform(0, duration - 4)))


def place(said: list[Sentence], duration: float) -> tuple[Sentence, ...]:
    """Time order without overlap (MIN_GAP_S apart), inside the video; what does not fit goes."""
    out, t = [], 0.0
    for s in sorted(said, key=lambda s: (s.start, s.text)):
        start = min(max(s.start, t, 0.0), duration - (s.end - s.start) - 0.2)
        if start < t:
            continue  # no room left
        out.append(Sentence(s.text, round(start, 3), round(start + s.end - s.start, 3), s.shown))
        t = start + (s.end - s.start) + MIN_GAP_S
    return tuple(out)


# -- families ----------------------------------------------------------------------------------
def plan_filler(seed: int, index: int, offset=None) -> VideoPlan:
    """Photos between talking-head filler; about one new thing per step. (`offset`: another
    sampler of narration offsets than the family's; the shots stay the same.)"""
    rng = np.random.default_rng([seed, index, 1])
    duration = float(rng.uniform(120, 240))
    deck = list(rng.permutation([t.name for t in THINGS]))
    shots, t = [Shot("head", 0.0, float(rng.uniform(4, 8)))], 0.0
    t = shots[0].end
    while t < duration - 20:
        length = float(rng.uniform(5, 15))
        shots.append(Shot("photo", t, t + length, (deck.pop(),), int(rng.integers(1 << 30))))
        t += length
        gap = float(rng.uniform(3, 10))
        shots.append(Shot("head", t, min(duration, t + gap)))
        t += gap
    shots.append(Shot("head", t, duration))
    offset = offset or OFFSETS["filler"]
    return _finish(rng, "filler", duration, shots, offset, P_UNNARRATED, index)


def plan_workspace(seed: int, index: int, offset=None) -> VideoPlan:
    """Things slide onto a full-frame workspace; few talking heads; things recur."""
    rng = np.random.default_rng([seed, index, 2])
    duration = float(rng.uniform(120, 240))
    pool = list(rng.choice([t.name for t in THINGS], size=int(rng.integers(3, 6)), replace=False))
    has_head = rng.random() < 0.25
    shots, t = [], 0.0
    if has_head:
        shots.append(Shot("head", 0.0, float(rng.uniform(4, 8))))
        t = shots[0].end
    while t < duration - 18:
        gap = float(rng.uniform(2, 8))
        shots.append(Shot("workspace", t, t + gap))
        t += gap
        length = float(rng.uniform(5, 14))
        thing = str(rng.choice(pool))
        shots.append(Shot("workspace", t, t + length, (thing,), int(rng.integers(1 << 30))))
        t += length
    shots.append(Shot("head" if has_head else "workspace", t, duration))
    offset = offset or OFFSETS["workspace"]
    plan = _finish(rng, "workspace", duration, shots, offset, P_UNNARRATED, index)
    sizes = ((160, 120), (192, 108), (256, 144))
    return _replace(plan, container=("mp4", "mkv", "webm")[index % 3], size=sizes[index % 3 - 1])


def plan_crowded(seed: int, index: int, offset=None) -> VideoPlan:
    """Long videos of collages (2-3 things), cross-faded, dense or sparse narration."""
    rng = np.random.default_rng([seed, index, 3])
    duration = float(rng.uniform(300, 720))
    dense = index % 2 == 0
    names = list(rng.choice([t.name for t in THINGS], size=12, replace=False))
    shots, t = [], 0.0
    while t < duration - 20:
        length = float(rng.uniform(10, 25))
        things = tuple(rng.choice(names, size=int(rng.integers(2, 4)), replace=False))
        shots.append(Shot("collage", t, min(duration, t + length), things,
                          int(rng.integers(1 << 30))))  # fmt: skip
        t += length
    shots[-1] = Shot("collage", shots[-1].start, duration, shots[-1].things, shots[-1].seed)
    nar = _Narrator(rng, offset or OFFSETS["crowded"])
    for shot in shots:
        named = shot.things if dense else shot.things[:1]
        for thing in named:
            _narrate_step(nar, shot, thing, P_UNNARRATED if dense else 0.5)
    shown = {x for s in shots for x in s.things}
    _noise_sentences(nar, len(shots), shown, duration)
    return VideoPlan(_video_id(rng, "crowded"), round(duration, 3), tuple(shots),
                     place(nar.said, duration), fade_s=3.0, look=int(rng.integers(1 << 30)),
                     subtitle_format=("vtt", "srt", "json")[index % 3])  # fmt: skip


def _finish(rng, family, duration, shots, offset, p_unnarrated, index) -> VideoPlan:
    nar = _Narrator(rng, offset)
    steps = [s for s in shots if s.things]
    for shot in steps:
        _narrate_step(nar, shot, shot.things[0], p_unnarrated)
    _noise_sentences(nar, len(steps), {x for s in steps for x in s.things}, duration)
    return VideoPlan(_video_id(rng, family), round(duration, 3), tuple(shots),
                     place(nar.said, duration), look=int(rng.integers(1 << 30)),
                     subtitle_format=("vtt", "srt", "json")[index % 3])  # fmt: skip


def _replace(plan: VideoPlan, **changes) -> VideoPlan:
    from dataclasses import replace

    return replace(plan, **changes)


def plan_workspace_mixture(seed: int, index: int, offset=None) -> VideoPlan:
    """The workspace narrated with the filler's offsets (half of them 5-40 s off): a stand-in
    for the issue's external folder 2, kept out of the suite's families (never tuned on)."""
    return plan_workspace(seed, index, offset or OFFSETS["workspace_mixture"])


OFFSETS = {"filler": mixture_offset, "workspace": laplace_offset, "crowded": late_offset,
           "workspace_mixture": mixture_offset}  # how each family's narration is off  # fmt: skip
PLANNERS = {"filler": plan_filler, "workspace": plan_workspace, "crowded": plan_crowded,
            "workspace_mixture": plan_workspace_mixture}  # fmt: skip
VIDEOS = {"filler": 24, "workspace": 24, "crowded": 12,  # per folder (crowded: long videos)
          "workspace_mixture": 24}  # fmt: skip
