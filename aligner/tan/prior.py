"""Where a sentence was said is evidence of where it is shown: a heavy-tailed prior over time
around the ASR midpoint, in logit units (cosine / tau), added to a similarity row to pick the
peak (inference) and the teacher's windows (co-training). A numpy-only leaf module."""

from __future__ import annotations

import numpy as np

PRIOR_WEIGHT = 1.0  # logit units the prior takes off at PRIOR_SCALE_S ...
PRIOR_SCALE_S = 10.0  # ... seconds from the ASR midpoint (Cauchy: ln(1 + (d / scale)^2))


def asr_prior(t: int, asr_mid: np.ndarray) -> np.ndarray:
    """`(K, T)`: -PRIOR_WEIGHT * ln(1 + (d / PRIOR_SCALE_S)^2), d = seconds from second t's
    centre to the sentence's ASR midpoint `asr_mid` `(K,)` (seconds from the same origin):
    narration is mostly near what it names, sometimes far (a Cauchy log-density)."""
    d = np.arange(t)[None] + 0.5 - np.asarray(asr_mid, np.float64)[..., None]
    return -PRIOR_WEIGHT * np.log1p((d / PRIOR_SCALE_S) ** 2)
