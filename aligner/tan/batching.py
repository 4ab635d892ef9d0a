"""Training material: per-video items, sentence target windows, padded batches of random windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aligner.tan.config import TrainConfig


@dataclass
class VideoItem:
    """One video's training material; times in seconds, features at 1 per second."""

    video_id: str
    video: list[np.ndarray]  # one (T, D_i) float32 per visual backbone
    text: np.ndarray  # (K, Dt) float32 sentence vectors
    start: np.ndarray  # (K,) ASR start
    end: np.ndarray  # (K,) ASR end
    label_alignable: np.ndarray | None = None  # (K,) 1 / 0 from a curator, nan = unlabelled
    label_start: np.ndarray | None = None  # (K,) the curator's visual window, nan = none
    label_end: np.ndarray | None = None
    sentence_ids: list[int] | None = None

    def __post_init__(self) -> None:
        k = len(self.text)
        for name in ("label_alignable", "label_start", "label_end"):
            if getattr(self, name) is None:
                setattr(self, name, np.full(k, np.nan))

    @property
    def duration(self) -> int:
        """Whole seconds covered by every backbone."""
        return min(v.shape[0] for v in self.video)


@dataclass
class Batch:
    """Padded windows of several videos; `*_pad` are True on padding."""

    video: list[torch.Tensor]  # one (B, T, D_i) per backbone
    text: torch.Tensor  # (B, K, Dt)
    video_pad: torch.Tensor  # (B, T) bool
    text_pad: torch.Tensor  # (B, K) bool
    target: torch.Tensor  # (B, K, T) bool: ASR span +- k (or the curator's window)
    span: torch.Tensor  # (B, K) long: ASR span length in seconds (>= 1), for co-training
    human: torch.Tensor  # (B, K) bool: a curator decided this sentence
    align_label: torch.Tensor  # (B, K) float: the curator's alignability, nan when none
    asr_mid: torch.Tensor  # (B, K) float: ASR midpoint, seconds from the window's start


def sentence_windows(item: VideoItem, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Target window `[a, b)` per sentence in seconds: the curator's window where labelled
    alignable, an empty one where labelled not alignable, else the ASR span +- `margin`."""
    a, b = item.start - margin, item.end + margin
    labelled = item.label_alignable == 1
    a = np.where(labelled, item.label_start, a)
    b = np.where(labelled, item.label_end, b)
    not_alignable = item.label_alignable == 0
    return np.where(not_alignable, np.nan, a), np.where(not_alignable, np.nan, b)


def make_window(
    item: VideoItem, t0: int, length: int, cfg: TrainConfig, rng: np.random.Generator | None
) -> dict[str, Any]:
    """Sentences of `item` that belong to seconds `[t0, t0 + length)`, with their targets."""
    a, b = sentence_windows(item, cfg.pos_margin_s)
    mid = (item.start + item.end) / 2
    overlaps = (b > t0) & (a < t0 + length)
    # a "not alignable" sentence joins where it was said: it is a negative for that window
    said_here = np.isnan(a) & (mid >= t0) & (mid < t0 + length)
    rows = np.flatnonzero(overlaps | said_here)
    if len(rows) > cfg.max_sentences:
        rows = np.sort((rng or np.random.default_rng(0)).choice(rows, cfg.max_sentences, False))
    secs = np.arange(t0, t0 + length)
    target = (secs[None] + 1 > a[rows, None]) & (secs[None] < b[rows, None])  # (K, T)
    span = np.maximum(1, np.round(item.end[rows] - item.start[rows])).astype(np.int64)
    return {
        "video": [v[t0 : t0 + length] for v in item.video],
        "text": item.text[rows],
        "target": target,
        "span": np.minimum(span, length),
        "human": ~np.isnan(item.label_alignable[rows]),
        "align_label": item.label_alignable[rows],
        "asr_mid": mid[rows] - t0,
    }


def collate(windows: Sequence[dict[str, Any]]) -> Batch:
    """Pad windows to the longest T and K of the batch."""
    b = len(windows)
    t = max(len(w["video"][0]) for w in windows)
    k = max(1, max(len(w["text"]) for w in windows))
    dims = [v.shape[1] for v in windows[0]["video"]]
    video = [torch.zeros(b, t, d) for d in dims]
    text = torch.zeros(b, k, windows[0]["text"].shape[-1])
    video_pad, text_pad = torch.ones(b, t, dtype=torch.bool), torch.ones(b, k, dtype=torch.bool)
    target = torch.zeros(b, k, t, dtype=torch.bool)
    span, human = torch.ones(b, k, dtype=torch.long), torch.zeros(b, k, dtype=torch.bool)
    align_label = torch.full((b, k), float("nan"))
    asr_mid = torch.zeros(b, k)
    for i, w in enumerate(windows):
        ti, ki = len(w["video"][0]), len(w["text"])
        for j, v in enumerate(w["video"]):
            video[j][i, :ti] = torch.from_numpy(np.asarray(v, dtype=np.float32))
        video_pad[i, :ti] = False
        text_pad[i, :ki] = False
        if ki:
            text[i, :ki] = torch.from_numpy(np.asarray(w["text"], dtype=np.float32))
            target[i, :ki, :ti] = torch.from_numpy(w["target"])
            span[i, :ki] = torch.from_numpy(w["span"])
            human[i, :ki] = torch.from_numpy(w["human"])
            align_label[i, :ki] = torch.from_numpy(w["align_label"].astype(np.float32))
            asr_mid[i, :ki] = torch.from_numpy(w["asr_mid"].astype(np.float32))
    return Batch(video, text, video_pad, text_pad, target, span, human, align_label, asr_mid)


def epoch_batches(
    items: Sequence[VideoItem], cfg: TrainConfig, rng: np.random.Generator
) -> list[Batch]:
    """Random windows: each round visits every video once (batches never repeat a video, so a
    sentence is never its own negative); rounds = mean duration / window length, or more to
    make `min_batches` batches."""
    mean_t = float(np.mean([it.duration for it in items]))
    per_round = math.ceil(len(items) / cfg.batch_videos)
    rounds = max(1, round(mean_t / cfg.window_s), math.ceil(cfg.min_batches / per_round))
    batches = []
    for _ in range(rounds):
        order = rng.permutation(len(items))
        for chunk in range(0, len(order), cfg.batch_videos):
            windows = [
                _random_window(items[i], cfg, rng) for i in order[chunk:][: cfg.batch_videos]
            ]
            batches.append(collate(windows))
    return batches


def fixed_batches(items: Sequence[VideoItem], cfg: TrainConfig) -> list[Batch]:
    """Deterministic windows (every `window_s` from 0) for the validation loss."""
    windows = [
        make_window(it, t0, min(cfg.window_s, it.duration - t0), cfg, None)
        for it in items
        for t0 in range(0, max(1, it.duration - cfg.window_s // 2), cfg.window_s)
    ]
    return [
        collate(windows[i : i + cfg.batch_videos]) for i in range(0, len(windows), cfg.batch_videos)
    ]


def _random_window(item: VideoItem, cfg: TrainConfig, rng: np.random.Generator) -> dict:
    length = min(cfg.window_s, item.duration)
    t0 = int(rng.integers(0, item.duration - length + 1))
    return make_window(item, t0, length, cfg, rng)


def split_videos(items: Sequence[VideoItem], cfg: TrainConfig, rng: np.random.Generator):
    """Hold out `val_fraction` of the videos for early stopping (none when there are few)."""
    if len(items) < cfg.min_val_videos or cfg.val_fraction <= 0:
        return list(items), []
    n_val = max(1, round(len(items) * cfg.val_fraction))
    val_idx = set(rng.choice(len(items), n_val, replace=False).tolist())
    train = [it for i, it in enumerate(items) if i not in val_idx]
    return train, [it for i, it in enumerate(items) if i in val_idx]
