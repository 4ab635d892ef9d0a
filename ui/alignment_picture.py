"""The alignment picture: the K×T similarity heatmap with said / shown / labelled windows.

Drawn with numpy + PIL (no plotting library on the hot path): the coloured heatmap of a video is
built once per run and cached; the window overlays (which change with every decision) are drawn
on a copy, a few milliseconds for 600 sentences.
"""

from __future__ import annotations

import numpy as np

SAID = (240, 162, 2)  # ASR window
SHOWN = (90, 180, 255)  # predicted window
LABEL_OK = (60, 220, 60)  # curator's window
LABEL_NO = (230, 40, 40)  # curator: not visually alignable
CURRENT = (255, 255, 255)
PX_PER_ROW_ZOOM = 18  # pixel height of a sentence row in the zoomed view
ZOOM_ROWS = 10  # sentences shown above and below the current one when zoomed
ZOOM_MARGIN_S = 40.0  # seconds shown around the current sentence's windows when zoomed
FULL_WIDTH_PX = 1100
FULL_HEIGHT_PX = 420
AXIS_PX = 16  # height of the time ruler under each picture


def colour_rows(sim: np.ndarray) -> np.ndarray:
    """(K, T) similarity -> (K, T, 3) uint8, each row scaled to its own min..max (dark -> bright)."""
    lo = sim.min(axis=1, keepdims=True)
    span = np.maximum(sim.max(axis=1, keepdims=True) - lo, 1e-6)
    x = (sim - lo) / span  # (K, T) in 0..1
    # a small perceptual ramp (dark blue -> teal -> yellow), like viridis, without matplotlib
    stops = np.array([[30, 20, 60], [40, 90, 140], [40, 160, 130], [180, 220, 60], [250, 240, 40]])
    pos = x * (len(stops) - 1)
    i = np.clip(pos.astype(int), 0, len(stops) - 2)
    f = (pos - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def draw(
    rgb: np.ndarray | None,
    rows: list[dict],
    *,
    k_range: tuple[int, int],
    t_range: tuple[float, float],
    size: tuple[int, int],
    current: int | None = None,
):
    """A PIL image of sentences `k_range` over seconds `t_range`, `size` = (width, height) px.

    `rgb` is `colour_rows(similarity)` ((K, T, 3); None draws a dark background: timeline only).
    """
    from PIL import Image, ImageDraw

    (k0, k1), (t0, t1), (width, height) = k_range, t_range, size
    t0i, t1i = int(max(0, np.floor(t0))), int(np.ceil(t1))
    if rgb is not None and t1i > t0i and k1 > k0:
        crop = rgb[k0:k1, t0i : min(t1i, rgb.shape[1])]
        shrink = crop.shape[1] > width or crop.shape[0] > height  # average, don't alias
        img = Image.fromarray(np.ascontiguousarray(crop)).resize(
            (width, height), Image.BOX if shrink else Image.NEAREST
        )
    else:
        img = Image.new("RGB", (width, height), (25, 25, 35))
    pen = ImageDraw.Draw(img)
    x_of = lambda t: (t - t0i) / max(t1i - t0i, 1e-6) * width  # noqa: E731
    row_h = height / max(k1 - k0, 1)
    for k in range(k0, k1):
        r = rows[k]
        y = (k - k0) * row_h
        _span(pen, x_of, r["asr_start"], r["asr_end"], y + row_h * 0.8, row_h, SAID)
        if r["pred_start"] is not None:
            _span(pen, x_of, r["pred_start"], r["pred_end"], y + row_h * 0.5, row_h, SHOWN)
        if r["alignable"] is True:
            _span(pen, x_of, r["label_start"], r["label_end"], y + row_h * 0.2, row_h, LABEL_OK)
        elif r["alignable"] is False:
            pen.rectangle([0, y, 4, y + max(row_h - 1, 1)], fill=LABEL_NO)
        if k == current:
            pen.rectangle([0, y, width - 1, y + max(row_h, 2)], outline=CURRENT, width=2)
    return _with_time_axis(img, t0i, t1i)


def _with_time_axis(img, t0: int, t1: int):
    """The image with a ruler below it: a tick and its second every ~10 % of the range."""
    from PIL import Image, ImageDraw

    width, height = img.size
    out = Image.new("RGB", (width, height + AXIS_PX), (255, 255, 255))
    out.paste(img, (0, 0))
    pen = ImageDraw.Draw(out)
    span = max(t1 - t0, 1)
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800) if span / s <= 12)
    for t in range(int(np.ceil(t0 / step) * step), t1 + 1, step):
        x = (t - t0) / span * (width - 1)
        pen.line([(x, height), (x, height + 4)], fill=(80, 80, 80))
        pen.text((min(x + 2, width - 30), height + 3), f"{t}s", fill=(60, 60, 60))
    return out


def _span(pen, x_of, start, end, y, row_h, colour) -> None:
    thick = max(1, int(row_h * 0.25))
    pen.line([(x_of(start), y), (max(x_of(end), x_of(start) + 1), y)], fill=colour, width=thick)


def zoom_ranges(rows: list[dict], idx: int, duration: float) -> tuple[tuple, tuple]:
    """Sentence and time ranges of the zoomed view around sentence position `idx`."""
    k0, k1 = max(0, idx - ZOOM_ROWS), min(len(rows), idx + ZOOM_ROWS + 1)
    r = rows[idx]
    times = [r["asr_start"], r["asr_end"]]
    times += [
        t
        for t in (r["pred_start"], r["pred_end"], r["label_start"], r["label_end"])
        if t is not None
    ]
    t0 = max(0.0, min(times) - ZOOM_MARGIN_S)
    t1 = min(max(duration, max(times)), max(times) + ZOOM_MARGIN_S)
    return (k0, k1), (t0, t1)
