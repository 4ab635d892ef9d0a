"""Per-second video features and per-sentence text features, cached per backbone.

Public API (docs/contracts.md): `compute_features`, `load_video_features`,
`load_text_features`, `feature_dims`, `feature_keys`. Modules: `visual.py` (backbones), `builtin.py` (the
weight-free descriptor), `text.py` (sentence encoders), `fusion.py` (LAFF, imports torch),
`cache.py` (atomic per-video cache), `compute.py` (the dataset-wide stage).
"""

from aligner.features.compute import (
    FeatureSummary,
    compute_features,
    feature_dims,
    feature_keys,
    load_text_features,
    load_video_features,
)

__all__ = [
    "FeatureSummary",
    "compute_features",
    "feature_dims",
    "feature_keys",
    "load_text_features",
    "load_video_features",
]
