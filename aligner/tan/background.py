"""Background seconds: the look that recurs through a video (numpy only; training and inference
both import it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BACKGROUND_COS = 0.9  # two seconds look alike above this cosine of their input features
BACKGROUND_SHARE = 0.25  # a second that looks like this share of its video is background


def background_seconds(video: Sequence[np.ndarray]) -> np.ndarray:
    """`(T,)` bool: seconds whose look recurs through the video (cosine of the input features
    >= `BACKGROUND_COS` with >= `BACKGROUND_SHARE` of all seconds), i.e. the talking head or
    the studio shot that fills instructional videos between the things they show."""
    t = min(v.shape[0] for v in video)
    if t == 0:
        return np.zeros(0, dtype=bool)
    x = np.concatenate([_unit_rows(np.asarray(v[:t], np.float32)) for v in video], axis=1)
    x /= np.sqrt(len(video))  # unit rows again: the mean cosine over backbones
    alike = (x @ x.T >= BACKGROUND_COS).mean(axis=1)  # (T,)
    return alike >= BACKGROUND_SHARE


def background_mass(sim: np.ndarray, background: np.ndarray) -> np.ndarray:
    """`(K,)` share of each sentence's softmax-over-time probability on background seconds."""
    z = sim - sim.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return (p * background[None]).sum(axis=1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
