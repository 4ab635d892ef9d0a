"""TAN (Temporal Alignment Networks, CVPR 2022): a joint and a dual encoder over per-second video
features and per-sentence vectors.

- Inputs: video features at 1 per second, one or more backbones `(B, T, D_i)`; sentence vectors
  `(B, K, Dt)`. Both projected to width d (Linear + LayerNorm; LAFF fusion when several visual
  backbones are given).
- Joint encoder: a transformer over [video tokens + learned temporal position ; sentence tokens
  without position]; the alignment matrix is cosine(joint text, joint video) / tau, `(B, K, T)`.
- Dual encoder: a transformer over the video tokens only; text = the projected sentence vector.
- Alignability: one linear head (shared, as in TAN) on the joint text tokens, and on the dual
  text tokens for the dual encoder's own view.
- Ensemble (`TANEnsemble`, `TANConfig.members` > 1): several TANs used as one. Its embeddings
  are the members' unit embeddings side by side, scaled by 1/sqrt(n), so every cosine it gives
  (alignment matrices, search scores) is the mean of the members' cosines.

This module is torch through and through; import it lazily (the CLI does).

Config dataclasses live in `aligner.tan.config`, checkpoint files in `aligner.tan.checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from aligner.errors import AlignerError
from aligner.tan.config import FeatureSpec, TANConfig

POS_INIT_STD = 0.01  # TAN initialises the temporal embedding with a small normal


@dataclass
class TANOutput:
    """Encoder outputs, all L2-normalised along the last axis (padding rows are garbage)."""

    joint_video: torch.Tensor  # (B, T, d)
    joint_text: torch.Tensor  # (B, K, d)
    dual_video: torch.Tensor  # (B, T, d)
    dual_text: torch.Tensor  # (B, K, d)
    align_logit: torch.Tensor  # (B, K) alignability logit from the joint text tokens
    dual_align_logit: torch.Tensor  # (B, K) the same head on the dual text tokens


def build_model(cfg: TANConfig, spec: FeatureSpec) -> TAN | TANEnsemble:
    """A TAN, or an ensemble of `cfg.members` of them."""
    return TAN(cfg, spec) if cfg.members == 1 else TANEnsemble(cfg, spec)


def members_of(model: TAN | TANEnsemble) -> list[TAN]:
    """The single models inside `model` (itself when it is one)."""
    return list(model.members) if isinstance(model, TANEnsemble) else [model]


class _Similarities:
    """Alignment matrices from normalised outputs (shared by a TAN and an ensemble)."""

    cfg: TANConfig
    # sentence vectors of the training folder (`sentence_bank`), or None: set by training,
    # carried by checkpoints, read by inference
    sentence_bank = None
    # how the training folder's confident sentences were seen (`aligner.tan.look_bank`), or
    # None: likewise
    look_bank = None

    def load_state_dict(self, *args, **kwargs):
        # the look bank holds this model's own embeddings: other weights make it meaningless
        # (the stage-1 twin of a trained model); `load_checkpoint` sets the saved one after
        self.look_bank = None
        return super().load_state_dict(*args, **kwargs)

    def similarity(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Alignment matrix `(B, K, T)` = cosine / tau, from normalised `(B, T, d)`, `(B, K, d)`."""
        return torch.einsum("bkd,btd->bkt", text, video) / self.cfg.temperature

    def similarities(self, out: TANOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """`(joint, dual)` alignment matrices `(B, K, T)` of one forward pass."""
        joint = self.similarity(out.joint_video, out.joint_text)
        return joint, self.similarity(out.dual_video, out.dual_text)


class TAN(_Similarities, nn.Module):
    """Joint + dual encoder; `forward` returns a `TANOutput`."""

    def __init__(self, cfg: TANConfig, spec: FeatureSpec):
        super().__init__()
        self.cfg, self.spec = cfg, spec
        d = cfg.width
        self.video_in = _video_input(spec.visual_dims, d)
        self.in_drop = nn.Dropout(cfg.input_dropout)
        self.text_in = nn.Sequential(nn.Linear(spec.text_dim, d), nn.LayerNorm(d))
        self.pos_embed = nn.Parameter(torch.randn(cfg.max_positions, d) * POS_INIT_STD)
        self.pos_norm = nn.LayerNorm(d)
        self.joint_encoder = _encoder(cfg, cfg.joint_layers)
        self.dual_encoder = _encoder(cfg, cfg.dual_layers)
        self.joint_norm, self.dual_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.align_head = nn.Linear(d, 1)
        nn.init.normal_(self.align_head.weight, std=0.01)
        nn.init.zeros_(self.align_head.bias)

    def positions(self, t: int, interpolate_from: int | None = None) -> torch.Tensor:
        """Temporal embedding `(t, d)`: seconds 0..t-1, or the first `interpolate_from`
        positions stretched to t (TAN's global inference over a whole video)."""
        if interpolate_from is None:
            if t > self.cfg.max_positions:
                raise AlignerError(
                    f"{t} s is longer than the model's {self.cfg.max_positions} positions;"
                    " use windowed inference"
                )
            return self.pos_norm(self.pos_embed[:t])
        source = self.pos_embed[:interpolate_from].T[None]  # (1, d, n)
        stretched = F.interpolate(source, size=t, mode="linear")  # (1, d, t)
        return self.pos_norm(stretched[0].T)

    def encode_video_tokens(self, video: list[torch.Tensor]) -> torch.Tensor:
        """Projected video tokens `(B, T, d)` from one `(B, T, D_i)` tensor per backbone."""
        return self.video_in([self.in_drop(v) for v in video])

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """Projected sentence tokens `(B, K, d)`, without time position: the joint encoder must
        find where a sentence belongs from the content, not from the (unreliable) ASR time."""
        return self.text_in(self.in_drop(text))

    def sentence_logit(self, text: torch.Tensor) -> torch.Tensor:
        """The alignability head on sentences alone, `(..., Dt)` -> `(...)` (`dual_align_logit`
        of a forward pass, without the video)."""
        return self.align_head(self.encode_text(text))[..., 0]

    def forward(
        self,
        video: list[torch.Tensor],
        text: torch.Tensor,
        video_pad: torch.Tensor,
        text_pad: torch.Tensor,
        interpolate_from: int | None = None,
    ) -> TANOutput:
        """video: one `(B, T, D_i)` per backbone; text `(B, K, Dt)`; `video_pad` `(B, T)` and
        `text_pad` `(B, K)` bool, True on padding (padding never reaches real tokens)."""
        t = video[0].shape[1]
        tokens = self.encode_video_tokens(video)  # (B, T, d)
        v = tokens + self.positions(t, interpolate_from)
        s = self.encode_text(text)  # (B, K, d)
        # without temporal context the dual encoder sees each second alone, position-free
        dual_in = v if self.cfg.dual_layers else tokens
        dual_v = self.dual_norm(self.dual_encoder(dual_in, src_key_padding_mask=video_pad))
        pad = torch.cat([video_pad, text_pad], dim=1)  # (B, T + K)
        joint = self.joint_norm(self.joint_encoder(torch.cat([v, s], 1), src_key_padding_mask=pad))
        joint_v, joint_s = joint[:, :t], joint[:, t:]
        return TANOutput(
            joint_video=F.normalize(joint_v, dim=-1),
            joint_text=F.normalize(joint_s, dim=-1),
            dual_video=F.normalize(dual_v, dim=-1),
            dual_text=F.normalize(s, dim=-1),
            align_logit=self.align_head(joint_s)[..., 0],
            dual_align_logit=self.align_head(s)[..., 0],
        )


class TANEnsemble(_Similarities, nn.Module):
    """`cfg.members` TANs of the same shape (each trained alone, from its own seed) used as one
    model: `forward` takes and returns what a TAN's does. Averaging the members' answers evens
    out how much one small model's alignments depend on its seed."""

    def __init__(self, cfg: TANConfig, spec: FeatureSpec, members: list[TAN] | None = None):
        super().__init__()
        self.cfg, self.spec = cfg, spec
        one = replace(cfg, members=1)
        built = members if members is not None else [TAN(one, spec) for _ in range(cfg.members)]
        self.members = nn.ModuleList(built)

    def forward(self, *args, **kwargs) -> TANOutput:
        outs = [member(*args, **kwargs) for member in self.members]
        scale = len(outs) ** -0.5  # unit vectors side by side: dot product = mean cosine
        side_by_side = {f.name: torch.cat([getattr(o, f.name) for o in outs], -1) * scale
                        for f in fields(TANOutput) if not f.name.endswith("logit")}  # fmt: skip
        return TANOutput(
            **side_by_side,
            align_logit=torch.stack([o.align_logit for o in outs]).mean(0),
            dual_align_logit=torch.stack([o.dual_align_logit for o in outs]).mean(0),
        )

    def sentence_logit(self, text: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.sentence_logit(text) for m in self.members]).mean(0)

    @classmethod
    def of(cls, members: list[TAN]) -> TANEnsemble:
        """An ensemble holding the given (trained) single models."""
        return cls(replace(members[0].cfg, members=len(members)), members[0].spec, members)


class _SingleInput(nn.Module):
    def __init__(self, dim: int, width: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(dim, width), nn.LayerNorm(width))

    def forward(self, video: list[torch.Tensor]) -> torch.Tensor:
        return self.proj(video[0])


def _video_input(dims: tuple[int, ...], width: int) -> nn.Module:
    """Linear + LayerNorm for one backbone; LAFF (attention over backbones) for several."""
    if len(dims) == 1:
        return _SingleInput(dims[0], width)
    from aligner.features.fusion import LAFF

    return LAFF(list(dims), width)


class _NoContext(nn.Module):
    """A zero-layer encoder: every token stays as it is (no temporal context)."""

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor) -> torch.Tensor:
        return x


def _encoder(cfg: TANConfig, layers: int) -> nn.Module:
    if layers == 0:
        return _NoContext()
    layer = nn.TransformerEncoderLayer(
        cfg.width,
        cfg.heads,
        dim_feedforward=cfg.ffn_mult * cfg.width,
        dropout=cfg.dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    # no nested tensors: that fast path would treat padding differently in train and eval
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
