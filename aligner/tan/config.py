"""Typed configuration of the model (`TANConfig`), of its inputs (`FeatureSpec`) and of training
(`TrainConfig`). A leaf module: no torch, no other aligner module but errors."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from aligner.errors import AlignerError

TEMPERATURE = 0.07  # tau of the cosine similarity (TAN, CLIP)
WINDOW_S = 64  # seconds of video per training / inference window (TAN's seq_len)
MAX_POSITIONS = 1024  # learned temporal positions (seconds) available to the joint encoder

# presets as data: the default ("small") trains in well under a minute on 2 CPU cores: a
# one-layer joint encoder and a dual encoder without temporal context (the quality suite,
# benchmarks/quality, found deeper context no better on 24-video folders), 4 members; "paper"
# is TAN's size, one model (an ensemble of those is a --members away)
PRESETS: dict[str, dict[str, Any]] = {
    "small": {"width": 128, "joint_layers": 1, "dual_layers": 0, "heads": 4},
    "base": {"width": 256, "joint_layers": 2, "dual_layers": 2, "heads": 4},
    "paper": {"width": 512, "joint_layers": 6, "dual_layers": 6, "heads": 8, "members": 1},
}


@dataclass(frozen=True)
class TANConfig:
    """Model hyper-parameters (the defaults are the "small" preset)."""

    width: int = 128  # d, the token width of both encoders
    joint_layers: int = 1
    dual_layers: int = 0  # 0: each second is encoded alone (no temporal context)
    heads: int = 4
    ffn_mult: int = 4  # feed-forward width = ffn_mult * width
    dropout: float = 0.1
    input_dropout: float = 0.3  # on the input features: small datasets are memorised otherwise
    temperature: float = TEMPERATURE
    window_s: int = WINDOW_S  # training window; global inference interpolates its positions
    max_positions: int = MAX_POSITIONS
    # models trained alike from different seeds (and held-out videos) whose similarities and
    # alignability logits are averaged: one small model's answers swing by several R@1 / AUC
    # points from seed to seed on the quality suite; the mean of 4 beat every single seed
    members: int = 4

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TANConfig:
        if name not in PRESETS:
            raise AlignerError(f"unknown model preset {name!r} (known: {', '.join(PRESETS)})")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TANConfig:
        known = {f.name for f in fields(cls)}
        data = {"members": 1, **data}  # checkpoints from before ensembles hold one model
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class FeatureSpec:
    """Which feature backbones a model reads; a checkpoint is only valid with the same ones."""

    visual: tuple[str, ...]
    visual_dims: tuple[int, ...]
    text: str
    text_dim: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "visual": list(self.visual),
            "visual_dims": list(self.visual_dims),
            "text": self.text,
            "text_dim": self.text_dim,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            visual=tuple(data["visual"]),
            visual_dims=tuple(int(d) for d in data["visual_dims"]),
            text=str(data["text"]),
            text_dim=int(data["text_dim"]),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss settings (the model's shape is `TANConfig`)."""

    # a third of the epochs on the ASR targets, two thirds co-training: on the quality suite's
    # development folders 4 + 8 beat 8 + 4 on every family (mean R@1 80.5 -> 81.5, ROC-AUC
    # 90.1 -> 92.7) at the same cost; 6 + 6 and 6 + 8 came between
    stage1_epochs: int = 4
    stage2_epochs: int = 8
    batch_videos: int = 8  # windows per batch, each from a different video
    window_s: int = WINDOW_S  # random window length, seconds
    max_sentences: int = 48  # per window; more are subsampled
    pos_margin_s: float = 10.0  # k: positives = ASR span +- k seconds (MIL-NCE's neighbours)
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_momentum: float = 0.999
    agree_iou: float = 0.5  # joint and dual windows agree at this IoU
    teacher_prior: bool = True  # the teacher's windows weigh in the ASR prior (as inference)
    exclusion: bool = True  # TAN's "a second shows one sentence" softmax in the teacher
    # stage 2 trains on this most-confident share of sentences: development folders, mean R@1
    # over the 4 families 0.5 -> 84.0, 0.3 -> 85.0, 0.2 -> 84.6 (workspace below stage 1 there)
    confident_fraction: float = 0.3
    video_loss_weight: float = 0.5
    align_loss_weight: float = 1.0
    label_weight: float = 4.0  # weight of a curator-labelled sentence in the losses
    val_fraction: float = 0.15  # videos held out for early stopping
    min_val_videos: int = 5  # fewer videos than this: no held-out split
    patience: int = 4  # epochs without a better validation error before stopping a stage
    min_epoch_share: float = 0.5  # early stopping judges only the second half of a stage
    min_batches: int = 12  # per epoch: small datasets take more random windows per video
    pem_weight: float = 0.0  # ALPRO prompt-entity modeling (aux_losses); 0 = off
    tap_weight: float = 0.0  # ST-XlanV tag-alignment prediction (aux_losses); 0 = off

    def with_epochs(self, total: int) -> TrainConfig:
        """`total` epochs split as the defaults split theirs (a third in stage 1, at least 1 each)."""
        from dataclasses import replace

        stage1 = max(
            1, round(total * self.stage1_epochs / (self.stage1_epochs + self.stage2_epochs))
        )
        return replace(self, stage1_epochs=stage1, stage2_epochs=max(1, total - stage1))
