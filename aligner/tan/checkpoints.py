"""Checkpoint files: where they live, and how they are written and read.

A checkpoint carries its config and the names/dims of the feature backbones it was trained on:
`{"config": asdict(cfg), "features": {...}, "state_dict": ..., **extra}`, and the model's
sentence bank (`aligner.tan.sentence_bank`) under "sentence_bank" and look bank
(`aligner.tan.look_bank`) under "look_bank" when it has them. Training
stamps its checkpoints with the key of their inputs (`extra["inputs_key"]`), so it can tell by
reading the stamp that a checkpoint is up to date."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aligner.atomic import atomic_write
from aligner.errors import AlignerError, first_line, storage_reason
from aligner.tan.config import FeatureSpec, TANConfig
from aligner.tan.look_bank import LookBank
from aligner.tan.model import TAN, build_model

CHECKPOINTS_DIR = "checkpoints"  # under the workspace root
CHECKPOINT_NAME = "tan.pt"
STAGE1_SUFFIX = ".stage1.pt"  # sibling checkpoint: the model before co-training
CHECKPOINT_NOT_FOUND = "checkpoint not found (run `aligner train` first)"
BANK_KEY = "sentence_bank"  # the model's `sentence_bank` (float16), when it has one
LOOK_KEY = "look_bank"  # the model's `look_bank` as tensors, when it has one


def default_checkpoint(ws) -> Path:
    """The checkpoint `train` writes and `predict` reads when none is named."""
    return ws.root / CHECKPOINTS_DIR / CHECKPOINT_NAME


def stage1_sibling(path: Path) -> Path:
    """The stage-1 (before co-training) checkpoint written beside `path`."""
    return path.with_name(path.name.removesuffix(".pt") + STAGE1_SUFFIX)


def save_checkpoint(model: TAN, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write `{"config", "features", "state_dict", **extra}` to `path` (atomically)."""

    payload = {
        "config": asdict(model.cfg),
        "features": model.spec.to_dict(),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    if model.sentence_bank is not None:
        payload[BANK_KEY] = torch.from_numpy(np.asarray(model.sentence_bank, np.float16))
    if model.look_bank is not None:
        arrays = model.look_bank.to_arrays().items()
        payload[LOOK_KEY] = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays}
    try:
        return atomic_write(path, lambda f: torch.save(payload, f))
    except (OSError, RuntimeError) as err:  # torch wraps a full disk in a RuntimeError
        raise AlignerError(f"{path}: cannot write the checkpoint ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    """The OS's words for a failed write (e.g. "No space left on device"), else the first line."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return storage_reason(cause) or cause.strerror
        cause = cause.__cause__ or cause.__context__
    return storage_reason(err) or first_line(err)


def load_checkpoint(
    path: str | Path, *, expect: FeatureSpec | None = None
) -> tuple[TAN, dict[str, Any]]:
    """Load a TAN checkpoint; returns `(model in eval mode, payload dict)`.

    `expect` (the features about to be fed) must match the checkpoint's features, else a clear
    `AlignerError`: a model trained on other backbones would silently produce noise.
    """

    path = Path(path)
    if not path.is_file():
        raise AlignerError(f"{path}: {CHECKPOINT_NOT_FOUND}")
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
    if BANK_KEY in payload:
        model.sentence_bank = payload[BANK_KEY].numpy()
    if LOOK_KEY in payload:
        model.look_bank = LookBank.from_arrays({k: v.numpy() for k, v in payload[LOOK_KEY].items()})
    model.eval()
    return model, payload


def read_stamp(path: str | Path) -> dict[str, Any] | None:
    """A checkpoint's payload without the weights; None when the file is missing or unreadable
    (memory-mapped: the weights are not read)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a truncated or foreign file is no stamp: the caller makes a new one
        return None
    return {k: v for k, v in payload.items() if k not in ("state_dict", BANK_KEY, LOOK_KEY)}


def _describe(spec: FeatureSpec) -> str:
    visual = "+".join(f"{n}({d})" for n, d in zip(spec.visual, spec.visual_dims, strict=True))
    return f"visual={visual} text={spec.text}({spec.text_dim})"
