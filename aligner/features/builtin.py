"""The `builtin` visual descriptor: weight-free, OpenCV/numpy, ~1 ms per frame on one core.

Four blocks, each L2-normalised, weighted, concatenated and L2-normalised again, so the cosine
of two descriptors is a weighted mean of the blocks' cosines:
- colour: joint HSV histograms (hue x saturation x value) over the whole frame and a 2x2 grid,
  square-rooted (Hellinger), so a colour scheme and its layout count, not exact pixels;
- gradients: HOG-like orientation histograms weighted by gradient magnitude over a 4x4 grid
  plus the whole frame, square-rooted: shape and texture, insensitive to brightness;
- thumbnail: an 8x8 grey thumbnail, zero-mean and unit-norm: coarse layout, insensitive to
  brightness and contrast;
- foreground: colour and orientation histograms of the pixels that differ from a slowly
  updated background (an exponential moving average of the samples, ~`BACKGROUND_S` long),
  plus the foreground's share of the frame: what entered a static scene (a thing put on a
  worktop), not the worktop; after a cut the whole frame is foreground until the background
  catches up;
- motion: mean absolute difference to the previous sample over a 4x4 grid (frame-difference
  energy), plus a constant "static" component so a still shot is a unit vector too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DESCRIPTOR_VERSION = 2  # bump when the maths changes: it is part of the cache key
INPUT_SIZE = (160, 120)  # (width, height) frames are decoded to, pixels
HUE_BINS, SAT_BINS, VAL_BINS = 8, 3, 3
COLOUR_GRID = 2  # 2x2 regions (+ the whole frame)
ORIENT_BINS = 9  # unsigned gradient orientations over 0-180 degrees
GRADIENT_GRID = 4  # 4x4 cells (+ the whole frame)
THUMB_SIZE = (8, 8)  # grey thumbnail, pixels
MOTION_GRID = 4  # 4x4 cells of frame-difference energy
MOTION_STATIC = 0.02  # mean |difference| (0-1) below which a shot reads as still
BACKGROUND_S = 20.0  # samples the background average spans (1 per second: seconds)
FOREGROUND_DIFF = 30.0  # grey levels (mean over RGB) from the background that make foreground
FOREGROUND_GRADIENT = 0.7  # the orientations' weight beside the colours in the foreground block
BLOCK_WEIGHTS = {"colour": 0.25, "gradient": 0.25, "thumbnail": 0.15, "foreground": 0.28,
                 "motion": 0.07}  # fmt: skip

COLOUR_BINS = HUE_BINS * SAT_BINS * VAL_BINS
COLOUR_DIM = (1 + COLOUR_GRID**2) * COLOUR_BINS
GRADIENT_DIM = (1 + GRADIENT_GRID**2) * ORIENT_BINS
THUMB_DIM = THUMB_SIZE[0] * THUMB_SIZE[1]
FOREGROUND_DIM = COLOUR_BINS + ORIENT_BINS + 1
MOTION_DIM = MOTION_GRID**2 + 1
DIM = COLOUR_DIM + GRADIENT_DIM + THUMB_DIM + FOREGROUND_DIM + MOTION_DIM


def describe_video(frames) -> np.ndarray:
    """Descriptors of consecutive samples of one video: iterable of frames -> (T, DIM) float32."""
    rows, before, background = [], None, None
    for frame in frames:
        row, before, background = _describe(frame, before, background)
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, DIM), np.float32)


def _describe(frame: np.ndarray, before: np.ndarray | None, background: np.ndarray | None):
    """(descriptor, this frame's motion thumbnail, the updated background), given the previous
    sample's motion thumbnail and background (None for the first sample)."""
    import cv2

    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    thumb = _motion_thumb(grey)
    pixels = frame.astype(np.float32)
    background = pixels if background is None else background
    codes, (orient, magnitude) = _hsv_codes(hsv), _orientations(grey)
    # summed over RGB by a matrix product: numpy's mean over the last axis costs 7x as much
    channel_sum = np.abs(pixels - background).reshape(-1, 3) @ np.ones(3, np.float32)
    foreground = channel_sum > 3 * FOREGROUND_DIFF
    blocks = {
        "colour": _grid_histogram(codes, COLOUR_BINS, COLOUR_GRID),
        "gradient": _grid_histogram(orient, ORIENT_BINS, GRADIENT_GRID, weights=magnitude),
        "thumbnail": _thumbnail(grey),
        "foreground": _foreground(codes, orient, magnitude, foreground),
        "motion": _motion(thumb, before),
    }
    parts = [np.sqrt(BLOCK_WEIGHTS[name]) * block for name, block in blocks.items()]
    background = background + (pixels - background) / BACKGROUND_S
    return _unit(np.concatenate(parts)).astype(np.float32), thumb, background


def _unit(x: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(x))
    return x / norm if norm > 0 else x


@lru_cache(maxsize=8)
def _grid_index(height: int, width: int, grid: int) -> np.ndarray:
    """Cell number (0..grid*grid-1) of every pixel, shape (H*W,)."""
    rows = np.minimum(np.arange(height) * grid // height, grid - 1)
    cols = np.minimum(np.arange(width) * grid // width, grid - 1)
    return (rows[:, None] * grid + cols[None, :]).ravel()


def _grid_histogram(values: np.ndarray, bins: int, grid: int, weights=None) -> np.ndarray:
    """Histograms of integer `values` (H, W) in each grid cell plus the whole frame, sqrt'd."""
    height, width = values.shape
    cells = _grid_index(height, width, grid)
    flat = cells * bins + values.ravel()
    w = None if weights is None else weights.ravel()
    hist = np.bincount(flat, weights=w, minlength=grid * grid * bins).reshape(grid * grid, bins)
    hist = np.vstack([hist.sum(axis=0, keepdims=True), hist]).astype(np.float64)
    hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1e-9)  # each region sums to 1
    return _unit(np.sqrt(hist).ravel())


def _hsv_codes(hsv: np.ndarray) -> np.ndarray:
    """Joint hue x saturation x value bin (0..COLOUR_BINS-1) of every pixel."""
    h = hsv[..., 0].astype(np.int32) * HUE_BINS // 180  # OpenCV hue is 0..179
    s = hsv[..., 1].astype(np.int32) * SAT_BINS // 256
    v = hsv[..., 2].astype(np.int32) * VAL_BINS // 256
    return (h * SAT_BINS + s) * VAL_BINS + v


def _orientations(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: unsigned gradient orientation bin (0..ORIENT_BINS-1) and magnitude."""
    import cv2

    smooth = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)  # damp pixel noise
    dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    magnitude, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)  # angle in [0, 360)
    # unsigned orientation: bins over 360 degrees folded onto 180 by the modulo
    return (angle * (ORIENT_BINS / 180.0)).astype(np.int32) % ORIENT_BINS, magnitude


def _foreground(codes: np.ndarray, orient: np.ndarray, magnitude: np.ndarray,
                mask: np.ndarray) -> np.ndarray:  # fmt: skip
    """Colour and orientation histograms (square-rooted) of the pixels `mask` (flat, H*W)
    marks as foreground, and the share of the frame they leave as background; a frame without
    foreground is that "empty" component alone."""
    if not mask.any():
        return np.concatenate([np.zeros(FOREGROUND_DIM - 1), [1.0]])
    colour = np.bincount(codes.ravel()[mask], minlength=COLOUR_BINS).astype(np.float64)
    weights = magnitude.ravel()[mask]
    grads = np.bincount(orient.ravel()[mask], weights=weights, minlength=ORIENT_BINS)
    parts = [_unit(np.sqrt(colour)), FOREGROUND_GRADIENT * _unit(np.sqrt(grads)),
             [1.0 - float(mask.mean())]]  # fmt: skip
    return _unit(np.concatenate(parts))


def _thumbnail(grey: np.ndarray) -> np.ndarray:
    import cv2

    thumb = cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    return _unit(thumb - thumb.mean())


def _motion_thumb(grey: np.ndarray) -> np.ndarray:
    import cv2

    size = (MOTION_GRID * 4, MOTION_GRID * 4)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _motion(thumb: np.ndarray, before: np.ndarray | None) -> np.ndarray:
    """Mean |difference| (0-1) per grid cell between two motion thumbnails, + a static part."""
    energy = np.zeros(MOTION_GRID**2)
    if before is not None:
        diff = np.abs(thumb - before).reshape(MOTION_GRID, 4, MOTION_GRID, 4).mean(axis=(1, 3))
        energy = diff.ravel() / 255.0
    return _unit(np.concatenate([energy, [MOTION_STATIC * MOTION_GRID]]))
