"""What R@1 a perfect recogniser could reach with the shipped way of choosing among showings:
per shown sentence, among the seconds that show the thing it names, the one nearest its ASR
midpoint (what the ASR prior picks when every showing looks alike). Where a thing is shown
several times and the narration is far off, even perfect features take the wrong showing: the
target "ASR + 25 points" is out of this decoder's reach on a family whose ceiling lies below it.

Computed from the plans alone (no video, no model); the generator family has no plans here.
"""

from __future__ import annotations

from benchmarks.quality.families import THING_BY_NAME, Sentence, Shot, VideoPlan
from benchmarks.quality.render import plans


def nearest_showing_ceiling(family: str, seed: int) -> float:
    """R@1 (%) over the family's shown sentences of picking the nearest showing of the thing."""
    hits = [_nearest_is_shown(plan, s) for plan in plans(family, seed) for s in plan.sentences
            if s.shown is not None]  # fmt: skip
    return round(100.0 * sum(hits) / max(len(hits), 1), 1)


def _nearest_is_shown(plan: VideoPlan, sentence: Sentence) -> bool:
    shot = next(s for s in plan.shots if (s.start, s.end) == tuple(sentence.shown))
    thing = named_thing(sentence.text, shot)
    showings = [s for s in plan.shots if thing in s.things]
    mid = (sentence.start + sentence.end) / 2
    return min(showings, key=lambda s: _distance(mid, s)) is shot


def named_thing(text: str, shot: Shot) -> str:
    """The thing of `shot` the sentence names (its noun is in the text)."""
    words = text.lower()
    return next((t for t in shot.things if any(n in words for n in THING_BY_NAME[t].nouns)),
                shot.things[0])  # fmt: skip


def _distance(t: float, shot: Shot) -> float:
    """Seconds from `t` to the shot (0 inside it)."""
    return max(shot.start - t, 0.0, t - shot.end)
