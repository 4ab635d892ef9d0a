"""LAFF: Lightweight Attentional Feature Fusion (Hu et al., ECCV 2022).

Several feature sets of one side (e.g. `builtin` + CLIP per second of video, or two sentence
encoders) become one vector:

    f'_i = tanh(W_i f_i + b_i)            each set projected to a common width d
    a    = softmax_i(w . f'_i + b)        one linear scorer shared by the sets
    out  = sum_i a_i f'_i

The weights `a` are per item (per second of video, per sentence), so they can be shown: which
backbone the model listened to at this moment (the paper's multi-head variant is not used: the
TAN's encoders come right after the fusion).

Inputs keep any leading shape: `(..., D_i)` per set -> `(..., d)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

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
