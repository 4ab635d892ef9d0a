"""LAFF: Lightweight Attentional Feature Fusion (Hu et al., ECCV 2022).

Several feature sets of one side (e.g. `builtin` + CLIP per second of video, or two sentence
encoders) become one vector:

    f'_i = tanh(W_i f_i + b_i)            each set projected to a common width d
    a    = softmax_i(w . f'_i + b)        one linear scorer shared by the sets
    out  = sum_i a_i f'_i

The weights `a` are per item (per second of video, per sentence), so they can be shown: which
backbone the model listened to at this moment. `MultiHeadLAFF` runs h such blocks in parallel;
the similarity of two sides is the mean over heads of the per-head cosine similarities
(`multi_head_similarity`), as in the paper.

Inputs keep any leading shape: `(..., D_i)` per set -> `(..., d)` (one head) or `(..., h, d)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "identity": nn.Identity}


class LAFF(nn.Module):
    """One LAFF block: `len(in_dims)` feature sets -> one `out_dim` vector per item."""

    def __init__(
        self,
        in_dims: Sequence[int],
        out_dim: int,
        *,
        activation: str = "tanh",
        dropout: float = 0.0,
    ):
        super().__init__()
        if not in_dims:
            raise ValueError("LAFF needs at least one feature set")
        self.in_dims, self.out_dim = list(in_dims), out_dim
        self.proj = nn.ModuleList(nn.Linear(d, out_dim) for d in in_dims)
        self.act = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Linear(out_dim, 1)

    def project(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Each set (..., D_i) -> stacked (..., n_sets, out_dim)."""
        if len(feats) != len(self.proj):
            raise ValueError(f"expected {len(self.proj)} feature sets, got {len(feats)}")
        return torch.stack(
            [self.act(p(self.dropout(f))) for p, f in zip(self.proj, feats, strict=True)], dim=-2
        )

    def fuse(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(fused (..., out_dim), weights (..., n_sets)) in one pass."""
        z = self.project(feats)  # (..., n, d)
        weights = torch.softmax(self.scorer(z).squeeze(-1), dim=-1)  # (..., n)
        return (weights.unsqueeze(-1) * z).sum(dim=-2), weights  # (..., d), (..., n)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fuse(feats)[0]

    def weights(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Attention weight of each feature set per item, (..., n_sets), rows sum to 1."""
        return self.fuse(feats)[1]


class MultiHeadLAFF(nn.Module):
    """h independent LAFF blocks: (..., D_i) per set -> (..., h, out_dim)."""

    def __init__(self, in_dims: Sequence[int], out_dim: int, *, heads: int = 4, **kwargs):
        super().__init__()
        self.heads = nn.ModuleList(LAFF(in_dims, out_dim, **kwargs) for _ in range(heads))

    def fuse(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(fused (..., h, out_dim), weights (..., h, n_sets))."""
        outs = [head.fuse(feats) for head in self.heads]
        return torch.stack([o for o, _ in outs], dim=-2), torch.stack([w for _, w in outs], dim=-2)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fuse(feats)[0]

    def weights(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per head and feature set, (..., h, n_sets)."""
        return self.fuse(feats)[1]

    def mean_weights(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Weights averaged over heads, (..., n_sets): one number per backbone to display."""
        return self.weights(feats).mean(dim=-2)


def multi_head_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over heads of cosine similarities: a (A, h, d), b (B, h, d) -> (A, B).

    Also accepts single-head (A, d) and (B, d).
    """
    if a.dim() == 2:
        a, b = a.unsqueeze(1), b.unsqueeze(1)
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    return torch.einsum("ahd,bhd->abh", a, b).mean(dim=-1)


def named_weights(weights: torch.Tensor, names: Sequence[str]) -> dict[str, list[float]]:
    """Weights (T, n_sets) or (T, h, n_sets) -> {backbone name: [weight per item]} for display."""
    if weights.dim() == 3:
        weights = weights.mean(dim=1)
    w = weights.detach().float().cpu()
    return {name: w[:, i].tolist() for i, name in enumerate(names)}
