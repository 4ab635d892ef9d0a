"""The `builtin` visual descriptor: weight-free, OpenCV/numpy, ~1 ms per frame on one core.

Six blocks, each L2-normalised, weighted, concatenated and L2-normalised again, so the cosine
of two descriptors is a weighted mean of the blocks' cosines:
- colour: joint HSV histograms (hue x saturation x value) over the whole frame and a 2x2 grid,
  square-rooted (Hellinger), so a colour scheme and its layout count, not exact pixels;
- gradients: HOG-like orientation histograms weighted by gradient magnitude over a 4x4 grid
  plus the whole frame, square-rooted: shape and texture, insensitive to brightness;
- thumbnail: an 8x8 grey thumbnail, zero-mean and unit-norm: coarse layout, insensitive to
  brightness and contrast;
- foreground: colour and orientation histograms of the pixels that differ from the scene's
  background (the per-pixel median of the samples of the same `BACKGROUND_CHUNK` seconds and
  of the chunk before), plus the foreground's share of the frame: what entered a static scene
  (a thing put on a worktop), not the worktop. A median, unlike a running average, neither
  absorbs a thing that stays a while nor keeps the ghost of one that left;
- motion: mean absolute difference to the previous sample over a 4x4 grid (frame-difference
  energy), plus a constant "static" component so a still shot is a unit vector too;
- object: the foreground's bounding box (3rd to 97th percentile of its rows and columns) cut
  out and shrunk to a 4x4 colour and an 8x8 grey thumbnail, each zero-mean: the thing's own
  layout wherever it lies and whatever its size; a frame without foreground, or one where
  most of the frame changed (a new scene, not a thing in it), is the block's "empty"
  component alone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DESCRIPTOR_VERSION = 3  # bump when the maths changes: it is part of the cache key
INPUT_SIZE = (160, 120)  # (width, height) frames are decoded to, pixels
HUE_BINS, SAT_BINS, VAL_BINS = 8, 3, 3
COLOUR_GRID = 2  # 2x2 regions (+ the whole frame)
ORIENT_BINS = 9  # unsigned gradient orientations over 0-180 degrees
GRADIENT_GRID = 4  # 4x4 cells (+ the whole frame)
THUMB_SIZE = (8, 8)  # grey thumbnail, pixels
MOTION_GRID = 4  # 4x4 cells of frame-difference energy
MOTION_STATIC = 0.02  # mean |difference| (0-1) below which a shot reads as still
BACKGROUND_CHUNK = 120  # samples (1 per second: seconds) that share one background
MEDIAN_SAMPLES = 40  # at most this many samples of a chunk enter its median (speed)
FOREGROUND_DIFF = 30.0  # grey levels (mean over RGB) from the background that make foreground
FOREGROUND_GRADIENT = 0.7  # the orientations' weight beside the colours in the foreground block
OBJECT_COLOUR, OBJECT_GREY = (4, 4), (8, 8)  # the object's thumbnails, pixels
OBJECT_MIN_PIXELS = 20  # fewer foreground pixels than this: no object
OBJECT_MAX_SHARE = 0.5  # more of the frame than this is foreground: a new scene, no object
# the object block takes a third; the others keep v2's proportions. A linear probe of which
# thing is in view (benchmarks/quality/probe.py, clean labels, development folders) named the
# thing in 22% (v2) -> 70% of the workspace seconds; object at 0.15 did no better on the suite
BLOCK_WEIGHTS = {"colour": 0.17, "gradient": 0.17, "thumbnail": 0.10, "foreground": 0.19,
                 "motion": 0.05, "object": 0.32}  # fmt: skip

COLOUR_BINS = HUE_BINS * SAT_BINS * VAL_BINS
COLOUR_DIM = (1 + COLOUR_GRID**2) * COLOUR_BINS
GRADIENT_DIM = (1 + GRADIENT_GRID**2) * ORIENT_BINS
THUMB_DIM = THUMB_SIZE[0] * THUMB_SIZE[1]
FOREGROUND_DIM = COLOUR_BINS + ORIENT_BINS + 1
MOTION_DIM = MOTION_GRID**2 + 1
OBJECT_DIM = 3 * OBJECT_COLOUR[0] * OBJECT_COLOUR[1] + OBJECT_GREY[0] * OBJECT_GREY[1] + 1
BLOCK_DIMS = {"colour": COLOUR_DIM, "gradient": GRADIENT_DIM, "thumbnail": THUMB_DIM,
              "foreground": FOREGROUND_DIM, "motion": MOTION_DIM, "object": OBJECT_DIM}  # fmt: skip
DIM = sum(BLOCK_DIMS.values())
_STARTS = np.cumsum([0, *BLOCK_DIMS.values()])[:-1].tolist()
BLOCK_STARTS = dict(zip(BLOCK_DIMS, _STARTS, strict=True))  # where each block begins


def describe_video(frames) -> np.ndarray:
    """Descriptors of consecutive samples of one video: iterable of frames -> (T, DIM) float32.
    Frames are held a chunk (`BACKGROUND_CHUNK` samples) at a time, for its background."""
    rows, before, previous, chunk = [], None, [], []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == BACKGROUND_CHUNK:
            before = _describe_chunk(chunk, previous, before, rows)
            previous, chunk = chunk, []
    if chunk:
        _describe_chunk(chunk, previous, before, rows)
    return np.stack(rows) if rows else np.zeros((0, DIM), np.float32)


def _describe_chunk(chunk: list, previous: list, before, rows: list):
    """Appends the chunk's descriptors to `rows`; returns its last motion thumbnail."""
    background = _median_background(previous + chunk)
    for frame in chunk:
        row, before = _describe(frame, before, background)
        rows.append(row)
    return before


def _median_background(frames: list) -> np.ndarray:
    """Per-pixel median of at most `MEDIAN_SAMPLES` evenly spaced frames, float32."""
    step = max(1, -(-len(frames) // MEDIAN_SAMPLES))
    return np.median(np.stack(frames[::step]), axis=0).astype(np.float32)


def _describe(frame: np.ndarray, before: np.ndarray | None, background: np.ndarray):
    """(descriptor, this frame's motion thumbnail), given the previous sample's motion
    thumbnail (None for the first sample) and the scene's background."""
    import cv2

    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    thumb = _motion_thumb(grey)
    codes, (orient, magnitude) = _hsv_codes(hsv), _orientations(grey)
    # summed over RGB by a matrix product: numpy's mean over the last axis costs 7x as much
    difference = np.abs(frame.astype(np.float32) - background).reshape(-1, 3)
    foreground = difference @ np.ones(3, np.float32) > 3 * FOREGROUND_DIFF
    blocks = {
        "colour": _grid_histogram(codes, COLOUR_BINS, COLOUR_GRID),
        "gradient": _grid_histogram(orient, ORIENT_BINS, GRADIENT_GRID, weights=magnitude),
        "thumbnail": _thumbnail(grey),
        "foreground": _foreground(codes, orient, magnitude, foreground),
        "motion": _motion(thumb, before),
        "object": _object(frame, grey, foreground.reshape(grey.shape)),
    }
    parts = [np.sqrt(BLOCK_WEIGHTS[name]) * blocks[name] for name in BLOCK_DIMS]  # its layout
    return _unit(np.concatenate(parts)).astype(np.float32), thumb


def block_of(descriptor: np.ndarray, name: str) -> np.ndarray:
    """The part of `descriptor` (DIM,) that block `name` fills, unit-norm again."""
    start = BLOCK_STARTS[name]
    return _unit(descriptor[start : start + BLOCK_DIMS[name]])


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
        return _empty(FOREGROUND_DIM)
    colour = np.bincount(codes.ravel()[mask], minlength=COLOUR_BINS).astype(np.float64)
    weights = magnitude.ravel()[mask]
    grads = np.bincount(orient.ravel()[mask], weights=weights, minlength=ORIENT_BINS)
    parts = [_unit(np.sqrt(colour)), FOREGROUND_GRADIENT * _unit(np.sqrt(grads)),
             [1.0 - float(mask.mean())]]  # fmt: skip
    return _unit(np.concatenate(parts))


def _object(frame: np.ndarray, grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colour and grey thumbnails (zero-mean) of the foreground's bounding box, `mask` (H, W);
    the "empty" component alone when there is no object (`_bounding_box`)."""
    box = _bounding_box(mask)
    if box is None:
        return _empty(OBJECT_DIM)
    (y0, y1), (x0, x1) = box
    colour = _thumbnail(frame[y0:y1, x0:x1], OBJECT_COLOUR)
    return _unit(np.concatenate([colour, _thumbnail(grey[y0:y1, x0:x1], OBJECT_GREY), [0.0]]))


def _bounding_box(mask: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(rows, columns) half-open spans holding the 3rd to 97th percentile of the foreground
    pixels (stray noise pixels do not stretch it), or None for fewer than
    `OBJECT_MIN_PIXELS` of them or more than `OBJECT_MAX_SHARE` of the frame."""
    if not OBJECT_MIN_PIXELS <= mask.sum() <= OBJECT_MAX_SHARE * mask.size:
        return None
    spans = []
    for axis in (1, 0):  # rows: pixels summed over columns; columns: over rows
        cumulative = np.cumsum(mask.sum(axis=axis))
        low, high = np.searchsorted(cumulative, [0.03 * cumulative[-1], 0.97 * cumulative[-1]])
        if high - low < 2:
            return None
        spans.append((int(low), int(high) + 1))
    return spans[0], spans[1]


def _empty(dim: int) -> np.ndarray:
    """A block's "nothing there" vector: its last, "empty" component alone."""
    return np.concatenate([np.zeros(dim - 1), [1.0]])


def _thumbnail(image: np.ndarray, size: tuple[int, int] = THUMB_SIZE) -> np.ndarray:
    """`image` (grey or colour) shrunk to `size`, zero-mean and unit-norm: layout, insensitive
    to brightness and contrast."""
    import cv2

    thumb = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
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
