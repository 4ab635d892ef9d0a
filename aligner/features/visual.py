"""Visual backbones: per-second features of a video, chosen by name.

Every backbone has the same small interface: `name`, `key` (cache key: name + every parameter
that changes the output), `dim`, `cacheable`, and `video_features(video) -> (T, D) float32`
with T = `frames.num_samples(video.duration, fps)`.

Names (`get_visual_backbone`):
- `builtin`: the weight-free OpenCV/numpy descriptor (`features/builtin.py`), the default;
- `precomputed:<name>`: `DATASET/features/<name>/<video_id>[.<ext>].npy`, T x D at 1 per
  second (HowTo100M's S3D features are T x 1024);
- anything else: a Hugging Face vision model by hub name (offline: it must already be in the
  local HF cache) or local directory. CLIP/SigLIP-style models give `get_image_features`;
  other vision models their pooled output. Batched; on CUDA when available.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from aligner.corpus import PRECOMPUTED_DIR
from aligner.errors import AlignerError, InputError, first_line
from aligner.features import builtin
from aligner.frames import DEFAULT_FPS, iter_frames, num_samples

DEFAULT_VISUAL = "builtin"
PRECOMPUTED_PREFIX = "precomputed:"
PRECOMPUTED_FPS = 1.0  # HowTo100M features: one row per second
PRECOMPUTED_TOLERANCE_S = 2.0  # allowed |rows - seconds|, plus PRECOMPUTED_TOLERANCE_FRAC
PRECOMPUTED_TOLERANCE_FRAC = 0.02  # of the duration (encoders round clip counts differently)
HF_BATCH = 32  # frames per forward pass
HF_DEFAULT_SHORT_SIDE = 224  # pixels, when the processor does not say


@dataclass(frozen=True)
class VideoRef:
    """One stored video, as backbones need it."""

    video_id: str
    path: Path  # absolute path of the video file
    duration: float  # seconds (as stored by ingest)
    dataset: Path  # the dataset folder


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of `x` (N, D) scaled to unit L2 norm (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


class BuiltinBackbone:
    """Weight-free descriptor of one frame per `1/fps` seconds."""

    cacheable = True
    dim = builtin.DIM

    def __init__(self, *, fps: float = DEFAULT_FPS, size: tuple[int, int] = builtin.INPUT_SIZE):
        self.name, self.fps, self.size = "builtin", fps, size

    @property
    def key(self) -> str:
        w, h = self.size
        return f"builtin-v{builtin.DESCRIPTOR_VERSION}-fps{self.fps:g}-{w}x{h}"

    def frames(self, video: VideoRef):
        """The decoded samples (the CPU half; `pipelines/` runs it as its own stage)."""
        return iter_frames(video.path, fps=self.fps, size=self.size, duration=video.duration)

    def embed_frames(self, frames) -> np.ndarray:
        """Iterable of consecutive RGB frames -> (T, DIM) float32 (the embedding half)."""
        return builtin.describe_video(frames)

    def video_features(self, video: VideoRef) -> np.ndarray:
        return self.embed_frames(self.frames(video))


class PrecomputedBackbone:
    """Features shipped with the dataset: `DATASET/features/<name>/<video_id>[.ext].npy`."""

    cacheable = False  # already a per-video .npy: nothing to gain from a copy
    fps = PRECOMPUTED_FPS

    def __init__(self, feature_name: str, dataset: Path | None):
        if dataset is None:
            raise AlignerError(f"precomputed:{feature_name}: needs the dataset folder")
        self.name = f"{PRECOMPUTED_PREFIX}{feature_name}"
        self.key = f"precomputed-{feature_name}"
        self.folder = Path(dataset) / PRECOMPUTED_DIR / feature_name
        if not self.folder.is_dir():
            raise InputError(self.folder, "no such precomputed-features folder")

    def file(self, video_id: str) -> Path:
        exact = self.folder / f"{video_id}.npy"
        if exact.exists():
            return exact
        matches = sorted(self.folder.glob(f"{video_id}.*.npy"))  # e.g. <id>.mp4.npy
        if not matches:
            raise InputError(exact, f"no precomputed {self.name} features for video {video_id}")
        return matches[0]

    @property
    def dim(self) -> int:
        first = next(iter(sorted(self.folder.glob("*.npy"))), None)
        if first is None:
            raise InputError(self.folder, "no .npy files")
        return int(_check_2d(first, np.load(first, mmap_mode="r")).shape[1])

    def video_features(self, video: VideoRef) -> np.ndarray:
        """Rows fitted to T seconds: a row or two too many are dropped, too few repeat the last."""
        path = self.file(video.video_id)
        try:
            array = _check_2d(path, np.load(path, mmap_mode="r", allow_pickle=False))
        except ValueError as err:
            raise InputError(path, f"not a readable .npy array ({err})") from err
        expected = num_samples(video.duration, self.fps)
        tolerance = PRECOMPUTED_TOLERANCE_S + PRECOMPUTED_TOLERANCE_FRAC * video.duration
        if abs(len(array) - expected) > tolerance:
            raise InputError(
                path,
                f"{len(array)} feature rows but the video lasts {video.duration:.1f} s "
                f"(expected {expected} rows at {self.fps:g}/s, ± {tolerance:.0f})",
            )
        rows = np.array(array[:expected], dtype=np.float32)  # a copy: not a view of the file
        _check_finite(path, rows)
        if len(rows) < expected:
            rows = np.concatenate([rows, np.repeat(rows[-1:], expected - len(rows), axis=0)])
        return rows


def _check_finite(path: Path, rows: np.ndarray) -> None:
    """NaN or inf in features poisons every loss it touches: refuse the file, naming the row."""
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise InputError(
            path, f"{int(bad.sum())} feature rows hold NaN or infinite values (first: row {first})"
        )


def _check_2d(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim != 2 or array.shape[0] == 0:
        raise InputError(path, f"expected a 2-D (seconds x dims) array, got shape {array.shape}")
    return array


class HFVisionBackbone:
    """A transformers vision model (by hub name or local dir): one embedding per sampled frame."""

    cacheable = True

    def __init__(self, name_or_path: str, *, fps: float = DEFAULT_FPS, device: str | None = None):
        self.name, self.fps, self._device = name_or_path, fps, device
        self._loaded = None  # (processor, model, device), on first use

    @property
    def key(self) -> str:
        digest = hashlib.sha1(_model_identity(self.name).encode()).hexdigest()[:10]
        return f"hf-{Path(self.name).name}-{digest}-fps{self.fps:g}"

    @property
    def dim(self) -> int:
        return int(self.embed([np.zeros((32, 32, 3), np.uint8)]).shape[1])

    def loaded(self):
        if self._loaded is None:
            self._loaded = _load_vision_model(self.name, self._device)
        return self._loaded

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 frames -> (N, D) float32, L2-normalised."""
        import torch

        processor, model, device = self.loaded()
        inputs = processor(images=frames, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device)
        with torch.inference_mode():
            if hasattr(model, "get_image_features"):
                out = model.get_image_features(pixel_values=pixels)
            else:
                out = model(pixel_values=pixels)
            out = _pooled(out)
        return l2_normalise(out.float().cpu().numpy())

    def frames(self, video: VideoRef):
        """The decoded samples at the processor's input size (the CPU half)."""
        processor = self.loaded()[0]
        return iter_frames(
            video.path, fps=self.fps, size=_short_side(processor), duration=video.duration
        )

    def video_features(self, video: VideoRef) -> np.ndarray:
        return self.embed_frames(self.frames(video))

    def embed_frames(self, frames) -> np.ndarray:
        """Iterable of RGB frames -> (T, D) float32, `HF_BATCH` frames per forward pass."""
        rows, batch = [], []
        for frame in frames:
            batch.append(frame)
            if len(batch) == HF_BATCH:
                rows.append(self.embed(batch))
                batch = []
        if batch:
            rows.append(self.embed(batch))
        return np.concatenate(rows)


def _pooled(out):
    """The image embedding from whatever the model returned (tensor or model output)."""
    if getattr(out, "image_embeds", None) is not None:  # *VisionModelWithProjection
        return out.image_embeds
    if getattr(out, "pooler_output", None) is not None:
        return out.pooler_output  # transformers 5: get_image_features returns an output object
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state.mean(dim=1)
    return out


def _short_side(processor) -> int:
    size = getattr(processor, "size", None) or {}
    get = size.get if hasattr(size, "get") else lambda k: getattr(size, k, None)
    return int(get("shortest_edge") or get("height") or HF_DEFAULT_SHORT_SIDE)


def _model_identity(name: str) -> str:
    """Hub name, or a local dir's path + the size/mtime of its files (retrained -> new key)."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return name
    stamps = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.iterdir())
              if p.suffix in {".json", ".safetensors", ".bin"}]  # fmt: skip
    return f"{path.resolve()}|{'|'.join(stamps)}"


def _load_vision_model(name: str, device: str | None):
    """(image processor, model in eval mode, device); a local dir never touches the network."""
    import torch
    from transformers import AutoImageProcessor

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        processor = AutoImageProcessor.from_pretrained(name)
        model = _model_class(name).from_pretrained(name)
    except (OSError, ValueError) as err:
        raise cannot_load("vision", name, err) from err
    return processor, model.eval().to(device), device


def cannot_load(kind: str, name: str, err: Exception) -> AlignerError:
    """The one-line error for a `kind` ("vision", "text") model that transformers cannot load."""
    return AlignerError(
        f"{name}: cannot load a {kind} model: not a local model directory, nor a "
        f"Hugging Face model available here ({first_line(err)})"
    )


def _model_class(name: str):
    """The saved architecture when it is an embedding model (e.g. CLIPVisionModelWithProjection,
    which AutoModel would load without its projection), else AutoModel (task heads dropped)."""
    import transformers
    from transformers import AutoConfig, AutoModel

    arch = (getattr(AutoConfig.from_pretrained(name), "architectures", None) or [""])[0]
    if arch.endswith(("Model", "ModelWithProjection")) and hasattr(transformers, arch):
        return getattr(transformers, arch)
    return AutoModel


@lru_cache(maxsize=16)
def _hf_backbone(name: str, fps: float) -> HFVisionBackbone:
    return HFVisionBackbone(name, fps=fps)  # one loaded model per process


def get_visual_backbone(name: str, *, dataset: Path | None = None, fps: float = DEFAULT_FPS):
    """The backbone called `name` (see the module docstring); HF models are loaded lazily."""
    if name == "builtin":
        return BuiltinBackbone(fps=fps)
    if name.startswith(PRECOMPUTED_PREFIX):
        return PrecomputedBackbone(name[len(PRECOMPUTED_PREFIX) :], dataset)
    return _hf_backbone(name, fps)
