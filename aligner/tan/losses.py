"""Contrastive losses (MIL-NCE, video-level InfoNCE), the alignability BCE and their sum."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aligner.tan.aux_losses import aux_loss
from aligner.tan.batching import Batch
from aligner.tan.config import TrainConfig

NEG = -1e4  # logit for masked cells: exp() underflows to 0 without NaNs in fp32


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


def total_loss(model, out, batch, target, selected, align, cfg: TrainConfig) -> torch.Tensor:
    """One stage's loss: MIL-NCE of both branches on `target` `(B, K, T)` for the `selected`
    sentences `(B, K)`, the video-level term, and the alignability BCE on `align` `(B, K)`;
    curated sentences weigh `label_weight`."""
    tau = model.cfg.temperature
    positive = target & selected[..., None]
    weight = torch.where(batch.human, cfg.label_weight, 1.0)
    joint = mil_nce(out.joint_video, out.joint_text, positive, batch, tau, weight)
    dual = mil_nce(out.dual_video, out.dual_text, positive, batch, tau, weight)
    video = video_nce(out.dual_video, out.dual_text, batch, tau)
    bce = alignability_bce(out, align, weight)
    aux = aux_loss(model, out, batch, positive, cfg)  # entity-prompt terms, 0 when off
    return joint + dual + cfg.video_loss_weight * video + cfg.align_loss_weight * bce + aux
