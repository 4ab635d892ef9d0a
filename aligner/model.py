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

This module is torch through and through; import it lazily (the CLI does).

Checkpoints carry their config and the names/dims of the feature backbones they were trained on:
`{"config": asdict(cfg), "features": {...}, "state_dict": ...}` (see `save_checkpoint`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aligner.errors import AlignerError

TEMPERATURE = 0.07  # tau of the cosine similarity (TAN, CLIP)
WINDOW_S = 64  # seconds of video per training / inference window (TAN's seq_len)
MAX_POSITIONS = 1024  # learned temporal positions (seconds) available to the joint encoder
POS_INIT_STD = 0.01  # TAN initialises the temporal embedding with a small normal

# presets as data: the default trains in minutes on 2 CPU cores; "paper" is TAN's size
PRESETS: dict[str, dict[str, Any]] = {
    "small": {"width": 128, "joint_layers": 2, "dual_layers": 2, "heads": 4},
    "base": {"width": 256, "joint_layers": 2, "dual_layers": 2, "heads": 4},
    "paper": {"width": 512, "joint_layers": 6, "dual_layers": 6, "heads": 8},
}


@dataclass(frozen=True)
class TANConfig:
    """Model hyper-parameters (the defaults are the "small" preset)."""

    width: int = 128  # d, the token width of both encoders
    joint_layers: int = 2
    dual_layers: int = 2
    heads: int = 4
    ffn_mult: int = 4  # feed-forward width = ffn_mult * width
    dropout: float = 0.1
    input_dropout: float = 0.3  # on the input features: small datasets are memorised otherwise
    temperature: float = TEMPERATURE
    window_s: int = WINDOW_S  # training window; global inference interpolates its positions
    max_positions: int = MAX_POSITIONS

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TANConfig:
        if name not in PRESETS:
            raise AlignerError(f"unknown model preset {name!r} (known: {', '.join(PRESETS)})")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TANConfig:
        known = {f.name for f in fields(cls)}
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


@dataclass
class TANOutput:
    """Encoder outputs, all L2-normalised along the last axis (padding rows are garbage)."""

    joint_video: torch.Tensor  # (B, T, d)
    joint_text: torch.Tensor  # (B, K, d)
    dual_video: torch.Tensor  # (B, T, d)
    dual_text: torch.Tensor  # (B, K, d)
    align_logit: torch.Tensor  # (B, K) alignability logit from the joint text tokens
    dual_align_logit: torch.Tensor  # (B, K) the same head on the dual text tokens


def build_model(cfg: TANConfig, spec: FeatureSpec) -> TAN:
    return TAN(cfg, spec)


class TAN(nn.Module):
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
        v = self.encode_video_tokens(video) + self.positions(t, interpolate_from)  # (B, T, d)
        s = self.encode_text(text)  # (B, K, d)
        dual_v = self.dual_norm(self.dual_encoder(v, src_key_padding_mask=video_pad))
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

    def similarity(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Alignment matrix `(B, K, T)` = cosine / tau, from normalised `(B, T, d)`, `(B, K, d)`."""
        return torch.einsum("bkd,btd->bkt", text, video) / self.cfg.temperature

    def similarities(self, out: TANOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """`(joint, dual)` alignment matrices `(B, K, T)` of one forward pass."""
        joint = self.similarity(out.joint_video, out.joint_text)
        return joint, self.similarity(out.dual_video, out.dual_text)


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


def _encoder(cfg: TANConfig, layers: int) -> nn.TransformerEncoder:
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


# -- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(model: TAN, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write `{"config", "features", "state_dict", **extra}` to `path` (atomically)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": asdict(model.cfg),
        "features": model.spec.to_dict(),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(
    path: str | Path, *, expect: FeatureSpec | None = None
) -> tuple[TAN, dict[str, Any]]:
    """Load a TAN checkpoint; returns `(model in eval mode, payload dict)`.

    `expect` (the features about to be fed) must match the checkpoint's features, else a clear
    `AlignerError`: a model trained on other backbones would silently produce noise.
    """

    path = Path(path)
    if not path.is_file():
        raise AlignerError(f"{path}: checkpoint not found (run `aligner train` first)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        cfg = TANConfig.from_dict(payload["config"])
        spec = FeatureSpec.from_dict(payload["features"])
    except Exception as err:  # a truncated or foreign file: say which file
        raise AlignerError(f"{path}: not a TAN checkpoint ({type(err).__name__}: {err})") from None
    if expect is not None and expect != spec:
        raise AlignerError(
            f"{path}: trained on features {_describe(spec)}, but {_describe(expect)} were given;"
            " compute those features or train a new model"
        )
    model = build_model(cfg, spec)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload


def _describe(spec: FeatureSpec) -> str:
    visual = "+".join(f"{n}({d})" for n, d in zip(spec.visual, spec.visual_dims, strict=True))
    return f"visual={visual} text={spec.text}({spec.text_dim})"
