"""Training TAN on ASR timestamps (self-supervised) and on the curators' labels.

Stage 1 (`stage1_loss`): MIL-NCE both ways (sentence -> seconds, second -> sentences) with the
positives = the seconds of the sentence's ASR span widened by `pos_margin_s` on each side, and
the negatives = every other second / sentence of the batch (several videos per batch, so in-video
and cross-video), for the joint and the dual encoder; plus the video-level term.

Stage 2 (`stage2_loss`, co-training): an EMA copy of the model (m = 0.999) labels each sentence:
each branch slides a box of the ASR span's length over time and keeps its best window; where the
joint and dual windows agree (IoU >= 0.5) their union replaces the ASR target, else the ASR target
stays. The MIL-NCE is restricted to the more confident half of the sentences (by how much of the
teacher's probability over time gathers in one 10 s box, joint + dual).

Alignability BCE (both stages; stage 1 labels with the model itself, stage 2 with the teacher):
a sentence whose probability over time lies mostly on background seconds (the look that recurs
through the video: the talking head) names nothing shown -> 0; mostly elsewhere -> 1. (The
agreement-based confidence alone ranked chatter *above* steps on the generated data: chatter
said over the talking head aligns consistently with it.)

Early stopping: on held-out videos, the share of sentences whose most similar second lies more
than 5 s from their target window; judged in the second half of each stage only.

Video-level term (multi-level alignment): each window's pooled video vs its pooled sentences,
InfoNCE both ways across the batch.

Curators' labels override every pseudo-label: an alignable sentence's target is exactly its
labelled window (always in the loss, weighted `label_weight`), a "not alignable" one has no
positive seconds and alignability target 0.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aligner.errors import AlignerError
from aligner.model import TAN, FeatureSpec, TANConfig, build_model, save_checkpoint

NEG = -1e4  # logit for masked cells: exp() underflows to 0 without NaNs in fp32
DEFAULT_VISUAL = ("builtin",)
DEFAULT_TEXT = "minilm"
CHECKPOINT_NAME = "tan.pt"
STAGE1_SUFFIX = ".stage1.pt"  # sibling checkpoint: the model before co-training
PEAK_BOX_S = 10  # seconds: a sentence is confident when its probability gathers in such a box
VAL_SLACK_S = 5  # validation: a peak this close to the target window counts as agreeing
BACKGROUND_LOW, BACKGROUND_HIGH = 0.3, 0.7  # background mass -> alignability pseudo-label 1 / 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss settings (the model's shape is `TANConfig`)."""

    stage1_epochs: int = 12
    stage2_epochs: int = 6
    batch_videos: int = 8  # windows per batch, each from a different video
    window_s: int = 64  # random window length, seconds
    max_sentences: int = 48  # per window; more are subsampled
    pos_margin_s: float = 0.0  # k: positives = ASR span +- k seconds
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_momentum: float = 0.999
    agree_iou: float = 0.5  # joint and dual windows agree at this IoU
    confident_fraction: float = 0.5  # stage 2 trains on this most-confident share of sentences
    video_loss_weight: float = 0.5
    align_loss_weight: float = 1.0
    label_weight: float = 4.0  # weight of a curator-labelled sentence in the losses
    val_fraction: float = 0.15  # videos held out for early stopping
    min_val_videos: int = 5  # fewer videos than this: no held-out split
    patience: int = 4  # epochs without a better validation error before stopping a stage
    min_epoch_share: float = 0.5  # early stopping judges only the second half of a stage
    min_batches: int = 12  # per epoch: small datasets take more random windows per video


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
    background: np.ndarray | None = None  # (T,) bool, see `infer.background_seconds`

    def __post_init__(self) -> None:
        from aligner.infer import background_seconds

        k = len(self.text)
        for name in ("label_alignable", "label_start", "label_end"):
            if getattr(self, name) is None:
                setattr(self, name, np.full(k, np.nan))
        if self.background is None:
            self.background = background_seconds(self.video)

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
    background: torch.Tensor  # (B, T) bool: the video's recurring look (talking head)


@dataclass
class TrainResult:
    model: TAN
    stage1_state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    train_videos: list[str] = field(default_factory=list)
    val_videos: list[str] = field(default_factory=list)


# -- windows and batches -----------------------------------------------------------------------
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
        "background": item.background[t0 : t0 + length],
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
    background = torch.zeros(b, t, dtype=torch.bool)
    for i, w in enumerate(windows):
        ti, ki = len(w["video"][0]), len(w["text"])
        for j, v in enumerate(w["video"]):
            video[j][i, :ti] = torch.from_numpy(np.asarray(v, dtype=np.float32))
        video_pad[i, :ti] = False
        background[i, :ti] = torch.from_numpy(w["background"])
        text_pad[i, :ki] = False
        if ki:
            text[i, :ki] = torch.from_numpy(np.asarray(w["text"], dtype=np.float32))
            target[i, :ki, :ti] = torch.from_numpy(w["target"])
            span[i, :ki] = torch.from_numpy(w["span"])
            human[i, :ki] = torch.from_numpy(w["human"])
            align_label[i, :ki] = torch.from_numpy(w["align_label"].astype(np.float32))
    return Batch(video, text, video_pad, text_pad, target, span, human, align_label, background)


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


# -- losses ------------------------------------------------------------------------------------
def mil_nce(
    video: torch.Tensor,
    text: torch.Tensor,
    positive: torch.Tensor,
    batch: Batch,
    temperature: float,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """MIL-NCE both ways over the whole batch.

    video `(B, T, d)` and text `(B, K, d)` normalised; positive `(B, K, T)` bool (within a
    video). Every second of every video is a candidate for every sentence, so negatives are
    in-video and cross-video. Seconds / sentences without a positive take no part as anchors.
    `weight` `(B, K)` scales each sentence's sentence->seconds term.
    """
    b, t, d = video.shape
    k = text.shape[1]
    logits = video.reshape(b * t, d) @ text.reshape(b * k, d).T / temperature  # (BT, BK)
    valid = (~batch.video_pad).reshape(-1, 1) & (~batch.text_pad).reshape(1, -1)
    logits = logits.masked_fill(~valid, NEG)
    eye = torch.eye(b, dtype=torch.bool)
    pos = positive.transpose(1, 2)[:, :, None, :] & eye[:, None, :, None]  # (B, T, B, K)
    pos = pos.reshape(b * t, b * k) & valid
    pos_logits = logits.masked_fill(~pos, NEG)
    rows, cols = pos.any(1), pos.any(0)
    v2t = torch.logsumexp(logits, 1) - torch.logsumexp(pos_logits, 1)  # (BT,)
    t2v = torch.logsumexp(logits, 0) - torch.logsumexp(pos_logits, 0)  # (BK,)
    w = torch.ones(b * k) if weight is None else weight.reshape(-1)
    losses = []
    if rows.any():
        losses.append(v2t[rows].mean())
    if cols.any():
        losses.append((t2v[cols] * w[cols]).sum() / w[cols].sum())
    return torch.stack(losses).mean() if losses else logits.sum() * 0


def video_nce(video: torch.Tensor, text: torch.Tensor, batch: Batch, temperature: float):
    """Video-level contrastive term: each window's mean video token vs its mean sentence,
    InfoNCE both ways across the windows of the batch (windows without sentences sit out)."""
    vmask, tmask = (~batch.video_pad).float(), (~batch.text_pad).float()
    v = F.normalize((video * vmask[..., None]).sum(1) / vmask.sum(1, keepdim=True), dim=-1)
    s = F.normalize((text * tmask[..., None]).sum(1) / tmask.sum(1).clamp(min=1)[:, None], dim=-1)
    keep = tmask.sum(1) > 0
    if keep.sum() < 2:
        return video.sum() * 0
    logits = v[keep] @ s[keep].T / temperature  # (B', B')
    labels = torch.arange(int(keep.sum()))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def alignability_bce(out, label: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """BCE of the joint and dual alignability logits `(B, K)` where `label` is not nan."""
    known = ~torch.isnan(label)
    if not known.any():
        return out.align_logit.sum() * 0
    y, w = label[known], weight[known]
    joint = F.binary_cross_entropy_with_logits(out.align_logit[known], y, weight=w)
    dual = F.binary_cross_entropy_with_logits(out.dual_align_logit[known], y, weight=w)
    return (joint + dual) / 2


# -- pseudo-labels -----------------------------------------------------------------------------
@dataclass
class PseudoLabels:
    target: torch.Tensor  # (B, K, T) bool: union of the agreeing windows, else the ASR target
    selected: torch.Tensor  # (B, K) bool: the confident share (+ every curated sentence)
    align: torch.Tensor  # (B, K) float: 1 / 0 where the branches agree, nan elsewhere


def two_way_prob(sim: torch.Tensor, batch: Batch) -> torch.Tensor:
    """TAN's exclusion principle on `(B, K, T)` logits: softmax over the sentences of each
    second (a second shows one thing), then over time (a sentence has one place)."""
    sim = sim.masked_fill(batch.video_pad[:, None, :], NEG)
    sim = sim.masked_fill(batch.text_pad[:, :, None], NEG)
    return sim.softmax(1).div(0.07).masked_fill(batch.video_pad[:, None, :], NEG).softmax(2)


def best_windows(prob: torch.Tensor, span: torch.Tensor, batch: Batch):
    """Slide a box of `span` seconds `(B, K)` over `prob` `(B, K, T)`; returns the best box's
    start `(B, K)` and the probability mass inside it `(B, K)` (boxes stay inside the video)."""
    b, k, t = prob.shape
    span = span.clamp(min=1, max=t)
    csum = F.pad(prob.cumsum(2), (1, 0))  # (B, K, T + 1)
    starts = torch.arange(t).expand(b, k, t)
    ends = (starts + span[..., None]).clamp(max=t)
    mass = csum.gather(2, ends) - csum.gather(2, starts)  # (B, K, T)
    length = (~batch.video_pad).sum(1)  # (B,)
    fits = starts + span[..., None] <= length[:, None, None].clamp(min=span[..., None])
    mass = mass.masked_fill(~fits, -1.0)
    return mass.argmax(2), mass.amax(2)


def pseudo_labels(
    joint_sim: torch.Tensor, dual_sim: torch.Tensor, batch: Batch, cfg: TrainConfig
) -> PseudoLabels:
    """Co-training targets from a teacher's `(B, K, T)` joint and dual similarities.

    Windows: each branch's best box of the ASR span's length; IoU >= `agree_iou` -> union.
    Confidence (which sentences the MIL-NCE keeps): the probability mass of each branch's best
    `PEAK_BOX_S` box, joint + dual. Alignability: a sentence whose probability over time
    (fused branches) lies mostly on background seconds (the recurring talking head) names
    nothing shown: 0 above `BACKGROUND_HIGH`, 1 below `BACKGROUND_LOW`, unknown between;
    curators' labels override."""
    span, real = batch.span, ~batch.text_pad
    prob_j, prob_d = two_way_prob(joint_sim, batch), two_way_prob(dual_sim, batch)
    start_j, _ = best_windows(prob_j, span, batch)
    start_d, _ = best_windows(prob_d, span, batch)
    overlap = (span - (start_j - start_d).abs()).clamp(min=0)
    agree = (overlap / (2 * span - overlap) >= cfg.agree_iou) & real
    secs = torch.arange(joint_sim.shape[2])[None, None]
    lo, hi = torch.minimum(start_j, start_d)[..., None], torch.maximum(start_j, start_d)[..., None]
    union = (secs >= lo) & (secs < hi + span[..., None])
    target = torch.where(agree[..., None] & ~batch.human[..., None], union, batch.target)
    box = torch.full_like(span, PEAK_BOX_S)
    mass = best_windows(prob_j, box, batch)[1] + best_windows(prob_d, box, batch)[1]
    confident = _top_share(mass, batch.text_pad, cfg.confident_fraction)
    fused = ((joint_sim + dual_sim) / 2).masked_fill(batch.video_pad[:, None, :], NEG)
    on_background = (fused.softmax(2) * batch.background[:, None, :]).sum(2)  # (B, K)
    align = torch.full(span.shape, float("nan"))
    align[(on_background < BACKGROUND_LOW) & real] = 1.0
    align[(on_background > BACKGROUND_HIGH) & real] = 0.0
    align = torch.where(batch.human, batch.align_label, align)
    return PseudoLabels(target, (confident | batch.human) & real, align)


def _top_share(score: torch.Tensor, pad: torch.Tensor, share: float) -> torch.Tensor:
    real = score[~pad]
    if real.numel() == 0:
        return torch.zeros_like(pad)
    cut = torch.quantile(real, 1.0 - share)
    return (score >= cut) & ~pad


# -- the two stages ----------------------------------------------------------------------------
def stage1_loss(model: TAN, batch: Batch, cfg: TrainConfig) -> torch.Tensor:
    """MIL-NCE on the ASR (+- k) targets, video-level term, and alignability BCE on the model's
    own (detached) pseudo-labels, with curators' labels overriding."""
    out = model(batch.video, batch.text, batch.video_pad, batch.text_pad)
    with torch.no_grad():
        sims = (
            model.similarity(out.joint_video, out.joint_text),
            model.similarity(out.dual_video, out.dual_text),
        )
        labels = pseudo_labels(*sims, batch, cfg)
    return _total_loss(model, out, batch, batch.target, ~batch.text_pad, labels.align, cfg)


def stage2_loss(model: TAN, teacher: TAN, batch: Batch, cfg: TrainConfig) -> torch.Tensor:
    """Co-training: targets and alignability from the EMA teacher's agreeing windows."""
    with torch.no_grad():
        t_out = teacher(batch.video, batch.text, batch.video_pad, batch.text_pad)
        joint = teacher.similarity(t_out.joint_video, t_out.joint_text)
        dual = teacher.similarity(t_out.dual_video, t_out.dual_text)
        labels = pseudo_labels(joint, dual, batch, cfg)
    out = model(batch.video, batch.text, batch.video_pad, batch.text_pad)
    return _total_loss(model, out, batch, labels.target, labels.selected, labels.align, cfg)


def _total_loss(model, out, batch, target, selected, align, cfg: TrainConfig) -> torch.Tensor:
    tau = model.cfg.temperature
    positive = target & selected[..., None]
    weight = torch.where(batch.human, cfg.label_weight, 1.0)
    joint = mil_nce(out.joint_video, out.joint_text, positive, batch, tau, weight)
    dual = mil_nce(out.dual_video, out.dual_text, positive, batch, tau, weight)
    video = video_nce(out.dual_video, out.dual_text, batch, tau)
    bce = alignability_bce(out, align, weight)
    return joint + dual + cfg.video_loss_weight * video + cfg.align_loss_weight * bce


@torch.no_grad()
def ema_update(teacher: TAN, student: TAN, momentum: float) -> None:
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


# -- the loop ----------------------------------------------------------------------------------
def train_items(
    items: Sequence[VideoItem],
    spec: FeatureSpec,
    *,
    config: TANConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train stage 1 then stage 2 on `items`; deterministic for a given seed."""
    cfg, tcfg = config or TANConfig(), train_config or TrainConfig()
    if not items:
        raise AlignerError("nothing to train on: no video has both features and sentences")
    with _deterministic(seed):
        rng = np.random.default_rng(seed)
        train, val = split_videos(items, tcfg, rng)
        model = build_model(cfg, spec)
        history: list[dict[str, float]] = []
        _run_stage(model, None, train, val, tcfg, rng, 1, history, progress)
        stage1_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        _run_stage(model, teacher, train, val, tcfg, rng, 2, history, progress)
    model.eval()
    return TrainResult(
        model, stage1_state, history, [it.video_id for it in train], [it.video_id for it in val]
    )


def split_videos(items: Sequence[VideoItem], cfg: TrainConfig, rng: np.random.Generator):
    """Hold out `val_fraction` of the videos for early stopping (none when there are few)."""
    if len(items) < cfg.min_val_videos or cfg.val_fraction <= 0:
        return list(items), []
    n_val = max(1, round(len(items) * cfg.val_fraction))
    val_idx = set(rng.choice(len(items), n_val, replace=False).tolist())
    train = [it for i, it in enumerate(items) if i not in val_idx]
    return train, [it for i, it in enumerate(items) if i in val_idx]


def _run_stage(model, teacher, train, val, cfg: TrainConfig, rng, stage: int, history, progress):
    """One stage with AdamW, gradient clipping and early stopping on the held-out videos."""
    from tqdm import tqdm

    epochs = cfg.stage1_epochs if stage == 1 else cfg.stage2_epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_batches = fixed_batches(val, cfg) if val else []
    best, best_state, stale = math.inf, None, 0
    bar = tqdm(total=epochs, desc=f"stage {stage}", unit="epoch", disable=not progress)
    for epoch in range(epochs):
        model.train()
        losses = [_step(model, teacher, b, cfg, opt) for b in epoch_batches(train, cfg, rng)]
        val_error = _validate(model, teacher, val_batches, cfg)
        history.append({"stage": stage, "epoch": epoch, "loss": float(np.mean(losses)),
                        "val_error": val_error})  # fmt: skip
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", val_err=f"{val_error:.3f}")
        bar.update()
        if not val_batches or epoch + 1 < epochs * cfg.min_epoch_share:
            continue  # too early to judge: the held-out error is noisy in the first epochs
        if val_error < best - 1e-4:
            best, stale = val_error, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)


def _step(model, teacher, batch: Batch, cfg: TrainConfig, opt) -> float:
    loss = (
        stage1_loss(model, batch, cfg)
        if teacher is None
        else stage2_loss(model, teacher, batch, cfg)
    )
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    if teacher is not None:
        ema_update(teacher, model, cfg.ema_momentum)
    return float(loss.detach())


@torch.no_grad()
def _validate(model, teacher, batches: list[Batch], cfg: TrainConfig) -> float:
    """Validation error on held-out videos: the share of sentences whose most similar second
    (joint + dual) is more than `VAL_SLACK_S` from their target window (ASR span +- k).

    A ranking measure, not the loss: as the model grows confident the MIL-NCE on noisy ASR
    targets rises while the alignment still improves (we saw the loss bottom out after 2 of
    24 epochs while R@1 kept climbing)."""
    if not batches:
        return float("nan")
    model.eval()
    hits, total = 0, 0
    for b in batches:
        out = model(b.video, b.text, b.video_pad, b.text_pad)
        sim = model.similarity(out.joint_video, out.joint_text) + model.similarity(
            out.dual_video, out.dual_text
        )
        peak = sim.masked_fill(b.video_pad[:, None, :], NEG).argmax(2)  # (B, K)
        near = F.max_pool1d(b.target.float().flatten(0, 1)[:, None], 2 * VAL_SLACK_S + 1, 1,
                            VAL_SLACK_S)[:, 0].view(b.target.shape) > 0  # fmt: skip
        counted = b.target.any(2) & ~b.text_pad
        hit = near.gather(2, peak[..., None])[..., 0] & counted
        hits, total = hits + int(hit.sum()), total + int(counted.sum())
    return 1.0 - hits / max(total, 1)


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch and use deterministic kernels (cheap on CPU); restore the setting after."""
    was = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


# -- a dataset workspace -----------------------------------------------------------------------
@dataclass
class TrainSummary:
    run_id: str
    checkpoint: Path
    stage1_checkpoint: Path
    n_videos: int
    n_sentences: int
    n_labels: int
    seconds: float
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        skipped = f"; skipped {len(self.skipped)} video(s)" if self.skipped else ""
        return (
            f"trained TAN on {self.n_videos} videos / {self.n_sentences} sentences"
            f" ({self.n_labels} curated) in {self.seconds:.0f} s -> {self.checkpoint}"
            f" (run {self.run_id}){skipped}"
        )


def train_dataset(
    ws,
    *,
    epochs: int | None = None,
    out: str | Path | None = None,
    visual: Sequence[str] | None = None,
    text: str | None = None,
    seed: int = 0,
    config: TANConfig | None = None,
    train_config: TrainConfig | None = None,
    progress: bool = True,
) -> TrainSummary:
    """Train on every ingested video of the workspace (+ the curators' labels); writes
    `out` (default `ws.root/checkpoints/tan.pt`), its `.stage1.pt` sibling and a `runs` row.

    `epochs` sets stage 1 to `epochs` and stage 2 to half of it (rounded up)."""
    from aligner.store import Store

    tcfg = train_config or TrainConfig()
    if epochs is not None:
        tcfg = replace(tcfg, stage1_epochs=epochs, stage2_epochs=math.ceil(epochs / 2))
    out = Path(out) if out else ws.subdir("checkpoints") / CHECKPOINT_NAME
    started = time.perf_counter()
    with Store(ws.db_path) as store:
        items, spec, skipped = load_items(ws, store, visual=visual, text=text)
        params = {"train": asdict(tcfg), "model": asdict(config or TANConfig()), "seed": seed,
                  "features": spec.to_dict()}  # fmt: skip
        run_id = store.start_run("train", model="tan", params=params)
        try:
            result = train_items(
                items, spec, config=config, train_config=tcfg, seed=seed, progress=progress
            )
        except BaseException:
            store.finish_run(run_id, status="failed")
            raise
        extra = {"history": result.history, "val_videos": result.val_videos}
        stage1 = out.with_name(out.name.removesuffix(".pt") + STAGE1_SUFFIX)
        save_checkpoint(_with_state(result.model, result.stage1_state), stage1, extra={"stage": 1})
        save_checkpoint(result.model, out, extra={"stage": 2, **extra})
        seconds = time.perf_counter() - started
        store.finish_run(run_id, checkpoint=str(out), timings={"train_s": seconds},
                         metrics=_final_losses(result.history))  # fmt: skip
    n_labels = int(sum(np.sum(~np.isnan(it.label_alignable)) for it in items))
    n_sentences = sum(len(it.text) for it in items)
    return TrainSummary(run_id, out, stage1, len(items), n_sentences, n_labels, seconds, skipped)


def _with_state(model: TAN, state: dict[str, torch.Tensor]) -> TAN:
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    return twin


def _final_losses(history: list[dict[str, float]]) -> dict[str, float]:
    last = {h["stage"]: h for h in history}
    return {f"stage{s}_{k}": float(h[k]) for s, h in last.items() for k in ("loss", "val_error")}


def load_items(
    ws, store, *, visual: Sequence[str] | None = None, text: str | None = None
) -> tuple[list[VideoItem], FeatureSpec, list[str]]:
    """Every ok video with sentences, as `VideoItem`s with features and current labels.

    A video whose features cannot be loaded is reported (returned in `skipped`) and left out;
    the others still train."""
    from aligner import features

    visual = list(visual or DEFAULT_VISUAL)
    text = text or DEFAULT_TEXT
    dims, text_dim = features.feature_dims(visual, text, dataset=ws.dataset)
    spec = FeatureSpec(tuple(visual), tuple(int(d) for d in dims), text, int(text_dim))
    labels = _labels_by_sentence(store)
    items, skipped = [], []
    for video in store.videos(status="ok"):
        sentences = store.sentences(video["video_id"])
        if not sentences:
            continue
        try:
            items.append(_load_item(ws, video["video_id"], sentences, labels, spec))
        except AlignerError as err:
            skipped.append(f"{video['video_id']}: {err}")
    return items, spec, skipped


def _load_item(ws, video_id: str, sentences, labels: dict[int, dict], spec: FeatureSpec):
    from aligner import features

    video = features.load_video_features(ws, video_id, list(spec.visual))
    text = features.load_text_features(ws, [s.text for s in sentences], spec.text)
    if min(v.shape[0] for v in video) == 0:
        raise AlignerError(f"{video_id}: no video features (shorter than 1 s?)")
    label = [labels.get(s.sentence_id, {}) for s in sentences]
    return VideoItem(
        video_id=video_id,
        video=[np.asarray(v, dtype=np.float32) for v in video],
        text=np.asarray(text, dtype=np.float32),
        start=np.array([s.start for s in sentences], dtype=np.float64),
        end=np.array([s.end for s in sentences], dtype=np.float64),
        label_alignable=np.array([_num(lab.get("alignable")) for lab in label]),
        label_start=np.array([_num(lab.get("start")) for lab in label]),
        label_end=np.array([_num(lab.get("end")) for lab in label]),
        sentence_ids=[s.sentence_id for s in sentences],
    )


def _labels_by_sentence(store) -> dict[int, dict]:
    """Current curator decisions that say something (skipped ones carry no label)."""
    current = getattr(store, "current_labels", None)
    if current is None:  # the review part of the store is not there yet
        return {}
    out = {}
    for row in current():
        if row.get("alignable") is None or row.get("status") == "skipped":
            continue
        if row["alignable"] and (row.get("start") is None or row.get("end") is None):
            continue  # alignable without a window: nothing exact to learn from
        out[int(row["sentence_id"])] = row
    return out


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


# -- feature-level toy data (tests, speed benchmarks) ------------------------------------------
TOY_CONCEPT_SEED = 1234  # the concepts are shared by every toy dataset, whatever its seed


def toy_items(
    n_videos: int,
    *,
    seed: int = 0,
    visual_dim: int = 48,
    text_dim: int = 32,
    n_concepts: int = 19,
    duration: tuple[int, int] = (60, 120),
    far_share: float = 0.15,
    noise: float = 0.5,
) -> tuple[list[VideoItem], dict[str, list[list]]]:
    """Videos as features only, with the sample generator's statistics: steps of 4-12 s showing
    one of `n_concepts` concepts (a visual and a text prototype each), talking head between
    them; a step is narrated with its ASR start ~ N(0, 4 s) from the step start, `far_share` of
    them 15-40 s away; a third of the sentences is chatter said over the talking head.
    Returns the items and HTM-Align ground truth `{video_id: [[alignable, start, end, text]]}`."""
    protos = np.random.default_rng(TOY_CONCEPT_SEED)
    vis = protos.normal(size=(n_concepts + 1, visual_dim))  # last row: talking head
    txt = protos.normal(size=(n_concepts + 4, text_dim))  # last 4 rows: chatter lines
    rng = np.random.default_rng(seed)
    items, truth = [], {}
    for i in range(n_videos):
        t = int(rng.integers(*duration))
        frames = np.tile(vis[-1], (t, 1))
        said = []  # (topic, asr start, shown start, shown end, alignable)
        cursor = float(rng.uniform(5, 9))
        while cursor + 12 < t - 5:
            c, a = int(rng.integers(n_concepts)), cursor
            b = a + float(rng.uniform(4, 12))
            frames[int(a) : int(b)] = vis[c]
            far = rng.random() < far_share
            shift = rng.uniform(15, 40) * rng.choice([-1, 1]) if far else rng.normal(0, 4)
            if rng.random() > 0.15:
                said.append((c, float(np.clip(a + shift, 0, t - 4)), a, b, 1))
            gap = float(rng.uniform(3, 8))
            if rng.random() < 0.6:
                said.append(
                    (n_concepts + int(rng.integers(4)), b + rng.uniform(0, gap - 2), 0, 0, 0)
                )
            cursor = b + gap
        said.sort(key=lambda s: s[1])
        topics = np.array([s[0] for s in said], dtype=int)
        text = txt[topics] + noise * rng.normal(size=(len(said), text_dim))
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        video = frames + noise * rng.normal(size=frames.shape)
        start = np.array([s[1] for s in said])
        vid = f"toy{seed}_{i:03d}"
        items.append(VideoItem(vid, [video.astype(np.float32)], text.astype(np.float32),
                               start, start + 3.0))  # fmt: skip
        truth[vid] = [
            [s[4], s[2] if s[4] else s[1], s[3] if s[4] else s[1] + 3.0, f"{vid} sentence {j}"]
            for j, s in enumerate(said)
        ]
    return items, truth
