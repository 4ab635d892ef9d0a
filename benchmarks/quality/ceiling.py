"""What R@1 a perfect recogniser could reach, computed from the plans alone (no video, no
model; the generator family has no plans here).

- `nearest_showing_ceiling`: per shown sentence, among the seconds that show the thing it names,
  the one nearest its ASR midpoint (what the ASR prior picks when every showing looks alike).
- `assignment_ceiling`: an oracle that also knows the family's true offset distribution and that
  each showing of a thing is narrated at most once: per video and thing, the most likely
  one-to-one assignment of its sentences to its showings. No decoder that sees only the video
  and the noisy ASR times does better (up to the gap between the most likely assignment and the
  one with the most expected hits), so a family whose ASR baseline lies within 25 points of this
  ceiling cannot meet the target "ASR + 25 points".
- `asr_r_at_1`: the ASR timestamp's own R@1 (its midpoint inside the shown span).

Each takes `offset`, another sampler of narration offsets than the family's (the shots stay the
same): how the target and the ceilings move when a family is narrated with other noise, e.g.
the issue's mixture (`families.mixture_offset`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.quality.families import OFFSETS, THING_BY_NAME, Sentence, Shot, VideoPlan
from benchmarks.quality.render import plans

DENSITY_SAMPLES, DENSITY_BIN_S = 200_000, 0.5  # histogram of a family's offsets
Sampler = Callable[[np.random.Generator], float]  # draws one narration offset (families)


def nearest_showing_ceiling(family: str, seed: int, offset: Sampler | None = None) -> float:
    """R@1 (%) over the family's shown sentences of picking the nearest showing of the thing."""
    hits = total = 0
    for plan in plans(family, seed, offset=offset):
        for thing, said in _sentences_by_thing(plan).items():
            showings = [s for s in plan.shots if thing in s.things]
            for sentence, shot in said:
                mid = (sentence.start + sentence.end) / 2
                hits += min(showings, key=lambda s: _distance(mid, s)) is shot
                total += 1
    return round(100.0 * hits / max(total, 1), 1)


def assignment_ceiling(family: str, seed: int, offset: Sampler | None = None) -> float:
    """R@1 (%) of the oracle's most likely assignment of sentences to showings (module doc)."""
    from scipy.optimize import linear_sum_assignment

    log_density = offset_log_density(offset or OFFSETS[family])
    hits = total = 0
    for plan in plans(family, seed, offset=offset):
        for thing, said in _sentences_by_thing(plan).items():
            showings = [s for s in plan.shots if thing in s.things]
            cost = -log_density(np.array([[s.start - x.start for x in showings] for s, _ in said]))
            rows, cols = linear_sum_assignment(cost)
            hits += sum(showings[c] is said[r][1] for r, c in zip(rows, cols, strict=True))
            total += len(said)
    return round(100.0 * hits / max(total, 1), 1)


def asr_r_at_1(family: str, seed: int, offset: Sampler | None = None) -> float:
    """R@1 (%) of the ASR midpoint over the family's shown sentences (HTM-Align's hit rule)."""
    from aligner.evaluate import is_hit

    hits = [is_hit((s.start + s.end) / 2, *s.shown) for plan in plans(family, seed, offset=offset)
            for s in plan.sentences if s.shown is not None]  # fmt: skip
    return round(100.0 * float(np.mean(hits)), 1) if hits else 0.0


def offset_log_density(sample: Sampler) -> Callable:
    """log p(offset) of a sampler, from a histogram of its draws (floored where it never lands:
    an assignment may still need such an offset)."""
    rng = np.random.default_rng(0)
    draws = np.array([sample(rng) for _ in range(DENSITY_SAMPLES)])
    edges = np.arange(-60.0, 60.0 + DENSITY_BIN_S, DENSITY_BIN_S)
    counts, _ = np.histogram(draws, edges)
    log_p = np.log((counts + 0.1) / (counts.sum() * DENSITY_BIN_S))

    def log_density(offsets: np.ndarray) -> np.ndarray:
        index = np.clip(np.digitize(offsets, edges) - 1, 0, len(log_p) - 1)
        return log_p[index]

    return log_density


def _sentences_by_thing(plan: VideoPlan) -> dict[str, list[tuple[Sentence, Shot]]]:
    """The video's shown sentences with their shot, grouped by the thing they name."""
    groups: dict[str, list[tuple[Sentence, Shot]]] = {}
    for sentence in plan.sentences:
        if sentence.shown is not None:
            shot = _shot_of(plan, sentence)
            groups.setdefault(named_thing(sentence.text, shot), []).append((sentence, shot))
    return groups


def _shot_of(plan: VideoPlan, sentence: Sentence) -> Shot:
    return next(s for s in plan.shots if (s.start, s.end) == tuple(sentence.shown))


def named_thing(text: str, shot: Shot) -> str:
    """The thing of `shot` the sentence names (its noun is in the text)."""
    words = text.lower()
    return next((t for t in shot.things if any(n in words for n in THING_BY_NAME[t].nouns)),
                shot.things[0])  # fmt: skip


def _distance(t: float, shot: Shot) -> float:
    """Seconds from `t` to the shot (0 inside it)."""
    return max(shot.start - t, 0.0, t - shot.end)
