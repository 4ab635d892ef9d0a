"""The look bank: how the training folder's confident sentences were seen, kept with the model
(and in its checkpoint), so a sentence can ask what the seconds that sentences like it matched
in *other* videos looked like.

A narrator's "now the whisk" is said ten seconds from the whisk; the model's own similarity
then often prefers a second near the narration that shows something else. Other videos of the
folder showed a whisk too: the bank holds, per confident sentence (alignability at least the
folder's median), its dual-encoder text embedding and the dual-encoder video embedding of its
peak second. A sentence's expected look is the mean look of its `NEIGHBOURS` nearest bank
sentences by text (never its own video's); the
cosine of every second to that look, in logit units and less its mean over the video, is
added with `WEIGHT` to the fused similarity. A mean of looks that disagree is a short vector,
so a sentence whose neighbours saw different things is moved less.

Development folders of the quality suite, two training seeds, R@1 of the final model: mean
+1.1 points (filler +1.0 / +1.5, workspace +0.8 / +1.3, crowded +0.2 / +0.6, generator
+2.5 / +0.8), no family x seed pair down, ROC-AUC -0.1 to +0.6; weights 0.35-0.75 gained more
on three families and lost up to 4.7 on crowded (benchmarks/results/quality_variants.json,
"session_7"). A sentence's own video is left out: its own peak would only confirm itself.

The bank says two more things, terms of alignability in `aligner.tan.infer` (`Evidence`):
- `kinship`: how alike a sentence is to what other videos confidently showed, the mean
  cosine to the same nearest rows (a thing's name has close neighbours there; a phrase said
  at random times, "thanks for watching", matched no second confidently anywhere, so its
  nearest confident rows are other kinds of sentence);
- `presence`: whether any second of this video shows what sentences like it showed, against
  everything else the folder's videos confidently showed. Per second, a softmax (the model's
  temperature) over the bank's sentences of other videos by their dual-encoder cosine to the
  second: which of the folder's things it shows, TAN's "a second shows one thing" over the
  folder's vocabulary instead of one video's sentences. A sentence's presence is the best
  second's share held by the bank sentences within `KIND_COSINE` of it by text. A narrator
  naming a thing this video never shows gets little: where a look like it is in view, the
  sentences naming what is there claim that second. Chit-chat gets little: no kind of
  confident sentence is near it. Development folders, two training seeds, mean ROC-AUC over
  the 4 families 96.94 -> 97.60 (each family x seed pair up or level; the previous presence,
  the best cosine to the neighbours' mean look, dropped: with it 97.68, within noise);
  crowded checks (seeds 3-5) 90.1 / 85.0 / 93.3 -> 92.5 / 89.1 / 95.1
  (benchmarks/results/quality_variants.json, "session_9").

Numpy only (no torch): `aligner.tan.infer` fills and applies it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from aligner.features.visual import l2_normalise
from aligner.numeric import softmax

NEIGHBOURS = 10  # bank sentences whose looks make a sentence's expected look
WEIGHT = 0.2  # of the look's cosine / tau beside the fused similarity
CONFIDENT_QUANTILE = 0.5  # sentences at or above this alignability quantile enter the bank
BANK_SIZE = 4096  # rows kept (a fixed random sample beyond)
SENTENCES_EXAMINED = 8192  # a large folder: videos (in a fixed random order) until this many
KIND_COSINE = 0.5  # bank sentences this close to a sentence by text are of its kind (presence)
PRESENCE_CHUNK = 1024  # seconds scored at once for presence (memory: chunk x rows floats)


@dataclass
class LookBank:
    """`text` `(R, d)` and `look` `(R, d)` unit dual-encoder embeddings (float16), `video`
    `(R,)` int64 `video_key` of the video each row came from."""

    text: np.ndarray
    look: np.ndarray
    video: np.ndarray

    def __len__(self) -> int:
        return len(self.video)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"text": self.text, "look": self.look, "video": self.video}

    @classmethod
    def from_arrays(cls, arrays: dict) -> LookBank:
        return cls(np.asarray(arrays["text"], np.float16), np.asarray(arrays["look"], np.float16),
                   np.asarray(arrays["video"], np.int64))  # fmt: skip


def video_key(video_id: str | None) -> int:
    """A stable int64 for a video id (-1 for none: excludes nothing)."""
    if video_id is None:
        return -1
    digest = hashlib.blake2b(str(video_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True) & ((1 << 62) - 1)


def confident_rows(
    peaks: list[np.ndarray],
    alignability: list[np.ndarray],
    text: list[np.ndarray],
    video: list[np.ndarray],
    video_ids: list[str],
    seed: int = 0,
) -> LookBank:
    """The bank from per-video predictions: `peaks` `(K,)` seconds and `alignability` `(K,)`,
    dual embeddings `text` `(K, d)` and `video` `(T, d)`; rows at or above the pooled
    `CONFIDENT_QUANTILE` of alignability, at most `BANK_SIZE` (deterministic in `seed`)."""
    pooled = np.concatenate([np.asarray(a, np.float64) for a in alignability] or [np.zeros(0)])
    if not len(pooled):
        return _empty(text)
    threshold = np.quantile(pooled, CONFIDENT_QUANTILE)
    texts, looks, keys = [], [], []
    for p, a, tx, v, vid in zip(peaks, alignability, text, video, video_ids, strict=True):
        keep = np.flatnonzero(np.asarray(a) >= threshold)
        at = np.clip(np.asarray(p, np.int64)[keep], 0, max(len(v) - 1, 0))
        texts.append(l2_normalise(np.asarray(tx)[keep]))
        looks.append(l2_normalise(np.asarray(v)[at]))
        keys.append(np.full(len(keep), video_key(vid), np.int64))
    bank = LookBank(np.concatenate(texts), np.concatenate(looks), np.concatenate(keys))
    if len(bank) > BANK_SIZE:
        keep = np.sort(np.random.default_rng(seed).choice(len(bank), BANK_SIZE, replace=False))
        bank = LookBank(bank.text[keep], bank.look[keep], bank.video[keep])
    return LookBank(bank.text.astype(np.float16), bank.look.astype(np.float16), bank.video)


@dataclass
class Evidence:
    """What the bank says of a video's sentences: `look` `(K, T)` logits added to the fused
    similarity, `kinship` `(K,)` cosines and `presence` `(K,)` shares (terms of alignability)."""

    look: np.ndarray
    kinship: np.ndarray
    presence: np.ndarray


def evidence(
    bank: LookBank, text: np.ndarray, video: np.ndarray, key: int, temperature: float
) -> Evidence | None:
    """The bank's `Evidence` for sentences with dual text embeddings `text` `(K, d)` in a video
    of dual embeddings `video` `(T, d)`, from the bank's rows of other videos than `key`; None
    when no such row is left, or no second:
    - look: `WEIGHT` x the cosine / `temperature` of each second to the sentence's expected
      look (the mean look of its `NEIGHBOURS` nearest rows by text; a short vector where they
      disagree), less its mean over the video;
    - kinship: the mean cosine of the sentence to those rows (how alike it is to what other
      videos confidently showed);
    - presence: the best second's share, in a softmax over the rows by their cosine to the
      second / `temperature`, of the rows within `KIND_COSINE` of the sentence by text (does
      the video show what sentences like it showed, rather than anything else)."""
    others = np.flatnonzero(bank.video != key)
    if not len(others) or not len(text) or not len(video):
        return None
    bank_text = bank.text[others].astype(np.float32)  # (R, d)
    cosine = l2_normalise(np.asarray(text, np.float32)) @ bank_text.T  # (K, R)
    rows, nearest = _nearest(others, cosine)
    seconds = l2_normalise(np.asarray(video, np.float32))
    expected = bank.look.astype(np.float32)[rows].mean(1)  # (K, d), norm <= 1
    to_look = expected @ seconds.T  # (K, T)
    look = WEIGHT * (to_look - to_look.mean(1, keepdims=True)) / temperature
    kind = (cosine >= KIND_COSINE).astype(np.float32)  # (K, R)
    presence = _presence(kind, seconds, bank_text, temperature)
    return Evidence(look.astype(np.float32), nearest.mean(1).astype(np.float64),
                    presence.astype(np.float64))  # fmt: skip


def _nearest(others: np.ndarray, cosine: np.ndarray):
    """The `NEIGHBOURS` highest of `cosine` `(K, R)` per sentence: (bank rows, cosines)."""
    n = min(NEIGHBOURS, len(others))
    nearest = np.argpartition(-cosine, n - 1, axis=1)[:, :n]  # (K, n) into `others`
    return others[nearest], np.take_along_axis(cosine, nearest, axis=1)


def _presence(kind: np.ndarray, seconds: np.ndarray, text: np.ndarray, temperature: float):
    """`(K,)`: the best second's share of each sentence's `kind` `(K, R)` of bank rows, in the
    softmax over the rows' `text` `(R, d)` by cosine to the `seconds` `(T, d)` / `temperature`
    (`PRESENCE_CHUNK` seconds at a time: an hours-long video need not hold T x R at once)."""
    best = np.zeros(len(kind), np.float32)
    for at in range(0, len(seconds), PRESENCE_CHUNK):
        shown = softmax(seconds[at : at + PRESENCE_CHUNK] @ text.T / temperature)  # (t, R)
        best = np.maximum(best, (kind @ shown.T).max(1))
    return best


def _empty(text: list[np.ndarray]) -> LookBank:
    d = next((np.asarray(x).shape[1] for x in text if np.ndim(x) == 2), 0)
    zeros = np.zeros((0, d), np.float16)
    return LookBank(zeros, zeros.copy(), np.zeros(0, np.int64))
