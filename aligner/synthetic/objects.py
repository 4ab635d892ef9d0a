"""The objects a step shows and how they move, drawn with OpenCV into BGR uint8 frames.

`SHAPES[name](img, (cx, cy), r, colour)` draws a static object of radius `r` pixels;
`MOTIONS[name](img, (cx, cy), r, colour, tool_colour, u, d, phase)` draws the action on top of it,
`u` seconds into a step that lasts `d` seconds. Both are looked up by the names in `vocab.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

AA = cv2.LINE_AA
GOLDEN = 0.6180339887  # spreads particle phases evenly without a random generator
SKIN = (150, 185, 225)  # BGR


def frac(x: float) -> float:
    return x - math.floor(x)


def shade(color, k: float) -> tuple[int, int, int]:
    """`color` scaled by `k` (darker < 1 < lighter), clipped to 0..255."""
    return tuple(int(np.clip(c * k, 0, 255)) for c in color)


def jittered(color, jitter) -> tuple[int, int, int]:
    """`color` + a per-channel offset, clipped to 0..255."""
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(color, jitter, strict=True))


# -- objects: shape(img, (cx, cy), r, colour); r = object radius in pixels ---------------------
def _bowl(img, c, r, color) -> None:
    cx, cy = c
    cv2.ellipse(img, (cx, cy), (r, int(r * 0.8)), 0, 0, 180, color, -1, AA)
    cv2.ellipse(img, (cx, cy), (r, max(2, r // 4)), 0, 0, 360, shade(color, 0.6), -1, AA)


def _disc(img, c, r, color) -> None:
    cv2.circle(img, c, r + max(2, r // 6), (50, 50, 50), -1, AA)  # pot rim
    cv2.circle(img, c, r, color, -1, AA)


def _glass(img, c, r, color) -> None:
    cx, cy = c
    w, h = int(r * 0.45), int(r * 1.1)
    cv2.rectangle(img, (cx - w, cy - h), (cx + w, cy + h), color, -1)
    cv2.rectangle(img, (cx - w + 3, cy - h), (cx - w + 6, cy + h - 3), shade(color, 1.4), -1)


def _bar(img, c, r, color) -> None:
    cv2.ellipse(img, c, (int(r * 1.4), max(3, r // 4)), 0, 0, 360, color, -1, AA)


def _pot(img, c, r, color) -> None:
    cx, cy = c
    pts = np.array([[cx - r, cy - r // 2], [cx + r, cy - r // 2], [cx + int(r * 0.7), cy + r],
                    [cx - int(r * 0.7), cy + r]], np.int32)  # fmt: skip
    cv2.fillPoly(img, [pts], color, AA)
    cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy - r // 3), (20, 40, 60), -1)  # soil


def _star(img, c, r, color) -> None:
    pts = [(c[0] + (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5 - math.pi / 2),
            c[1] + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5 - math.pi / 2))
           for k in range(10)]  # fmt: skip
    cv2.fillPoly(img, [np.array(pts, np.int32)], color, AA)
    cv2.circle(img, c, max(2, r // 4), (40, 220, 250), -1, AA)


def _flowers(img, c, r, color) -> None:
    for dx in (-r, 0, r):
        top = (c[0] + dx, c[1] - r // 2 + abs(dx) // 4)
        cv2.line(img, top, (top[0], c[1] + r), (30, 110, 30), 2, AA)
        _star(img, top, max(4, r // 2), color)


def _soil(img, c, r, color) -> None:
    cv2.ellipse(img, (c[0], c[1] + r // 2), (int(r * 1.5), r // 2), 0, 180, 360, color, -1, AA)


def _hedge(img, c, r, color) -> None:
    cx, cy = c
    cv2.rectangle(img, (cx - 2 * r, cy - r // 2), (cx + 2 * r, cy + r), color, -1)
    for k in range(-4, 5):
        cv2.circle(img, (cx + k * r // 2, cy - r // 2), r // 4 + 1, shade(color, 1.3), -1, AA)


def _plank(img, c, r, color) -> None:
    cx, cy = c
    cv2.rectangle(img, (cx - 2 * r, cy - r // 3), (cx + 2 * r, cy + r // 3), color, -1)
    for k in (-1, 1):
        y = cy + k * r // 6
        cv2.line(img, (cx - 2 * r, y), (cx + 2 * r, y), shade(color, 0.75), 1)


def _plate(img, c, r, color) -> None:
    cx, cy = c
    cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), color, -1)
    for dx in (-1, 1):
        for dy in (-1, 1):
            cv2.circle(img, (cx + dx * (r - 5), cy + dy * (r - 5)), 2, (90, 90, 90), -1)


def _hexagon(img, c, r, color, angle: float = 0.0) -> None:
    pts = [(c[0] + r * math.cos(angle + k * math.pi / 3), c[1] + r * math.sin(angle + k * math.pi / 3))
           for k in range(6)]  # fmt: skip
    cv2.fillPoly(img, [np.array(pts, np.int32)], color, AA)
    cv2.circle(img, c, max(2, r // 3), shade(color, 0.5), -1, AA)


def _plates(img, c, r, color) -> None:
    cx, cy = c
    cv2.rectangle(img, (cx - 2 * r, cy - r // 2), (cx + 2 * r, cy + r), (150, 150, 150), -1)  # sink
    for k in (-1, 0, 1):
        cv2.ellipse(img, (cx + k * r, cy + r // 4), (r // 2 + 2, r // 3), 0, 0, 360, color, -1, AA)


def _candle(img, c, r, color) -> None:
    cx, cy = c
    cv2.rectangle(img, (cx - r // 3, cy - r // 2), (cx + r // 3, cy + r), color, -1)
    cv2.line(img, (cx, cy - r // 2), (cx, cy - r // 2 - 4), (20, 20, 20), 1)


def _nothing(img, c, r, color) -> None:
    pass


SHAPES: dict[str, Callable] = {
    "bowl": _bowl, "disc": _disc, "glass": _glass, "bar": _bar, "blob": _nothing, "pot": _pot,
    "flowers": _flowers, "soil": _soil, "hedge": _hedge, "plank": _plank, "plate": _plate,
    "hexagon": _hexagon, "none": _nothing, "towel": _nothing, "plates": _plates,
    "candle": _candle,
}  # fmt: skip


# -- motions: motion(img, (cx, cy), r, object colour, tool colour, u, d, phase) ----------------
# u = seconds since the step started, d = step length in seconds.
def _falling(img, c, r, tool, u, phase, *, n, spread, speed, size) -> None:
    """Particles falling from the top of the frame to the object's top edge."""
    cx, cy = c
    fall = max(1, cy - r // 2)
    for i in range(n):
        x = cx + int((frac(i * GOLDEN + phase) - 0.5) * 2 * spread)
        y = int(frac(i * GOLDEN * 3.1 + u * speed / fall) * fall)
        cv2.circle(img, (x, y), size, tool, -1, AA)


def _pour(img, c, r, color, tool, u, d, phase) -> None:
    _falling(img, c, r, tool, u, phase, n=14, spread=max(3, r // 5), speed=90, size=max(2, r // 10))


def _sprinkle(img, c, r, color, tool, u, d, phase) -> None:
    _falling(img, c, r, tool, u, phase, n=10, spread=r, speed=45, size=max(1, r // 16))


def _stir(img, c, r, color, tool, u, d, phase) -> None:
    a = phase + u * 2 * math.pi * 0.8  # 0.8 turns per second
    tip = (c[0] + int(0.75 * r * math.cos(a)), c[1] + int(0.75 * r * math.sin(a)))
    cv2.line(img, c, tip, tool, max(2, r // 8), AA)
    cv2.circle(img, tip, max(2, r // 7), tool, -1, AA)


def _whisk(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    cv2.ellipse(img, (cx, cy), (int(r * 0.8), max(2, r // 5)), 0, 0, 360, tool, -1, AA)  # cream
    a = phase + u * 2 * math.pi * 2.5  # fast
    for k in range(3):
        dx = int(r * 0.5 * math.cos(a + k * 2.1))
        cv2.line(img, (cx + dx, cy - r), (cx + dx // 2, cy), (120, 120, 120), 1, AA)


def _cut(img, c, r, color, tool, u, d, phase) -> None:
    """A blade sweeping left to right through the object every 2 s, leaving cut marks."""
    cx, cy = c
    left, width = cx - int(r * 1.6), int(r * 3.2)
    x = left + int(frac(u / 2.0 + phase / 6.3) * width)
    for k in range(left + r // 3, x, max(4, r // 3)):
        cv2.line(img, (k, cy - r // 4), (k, cy + r // 4), shade(color, 0.6), 1)
    cv2.rectangle(img, (x - 1, cy - r), (x + 2, cy + r // 3), tool, -1)
    cv2.rectangle(img, (x - 3, cy - int(r * 1.5)), (x + 4, cy - r), (30, 30, 30), -1)  # handle


def _squash(img, c, r, color, tool, u, d, phase) -> None:
    k = 0.25 * math.sin(phase + u * 2 * math.pi * 1.2)
    cv2.ellipse(img, c, (int(r * (1 + k)), int(r * 0.6 * (1 - k))), 0, 0, 360, color, -1, AA)
    for dx in (-1, 1):  # two hands pressing
        cv2.circle(img, (c[0] + dx * int(r * (1 + k)), c[1] - r // 3), max(3, r // 4), SKIN, -1, AA)


def _up_down(u: float, phase: float, hz: float) -> float:
    return abs(math.sin(phase + u * math.pi * hz))


def _dig(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    y = cy - int(r * 0.2) - int(r * 0.8 * _up_down(u, phase, 0.8))
    pts = np.array([[cx - r // 3, y], [cx + r // 3, y], [cx, y + r // 2]], np.int32)
    cv2.fillPoly(img, [pts], tool, AA)
    cv2.line(img, (cx, y), (cx + r // 3, y - int(r * 1.3)), (40, 80, 120), max(2, r // 10), AA)


def _hammer(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    cv2.line(img, (cx, cy - r // 3), (cx, cy - r // 2 - 3), (200, 200, 200), 2)  # nail
    y = cy - r // 2 - 4 - int(r * 1.2 * _up_down(u, phase, 1.5))
    cv2.rectangle(img, (cx - r // 3, y - r // 5), (cx + r // 3, y), tool, -1)
    cv2.line(img, (cx + r // 3, y - r // 10), (cx + int(r * 1.4), y - r // 3), (40, 90, 140), 3)


def _sand(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    x = cx + int(r * 1.2 * math.sin(phase + u * 2 * math.pi * 1.5))
    cv2.rectangle(img, (x - r // 2, cy - r // 3 - r // 3), (x + r // 2, cy - r // 3), tool, -1)
    cv2.rectangle(img, (x - r // 4, cy - r), (x + r // 4, cy - r // 3 - r // 3), (40, 40, 140), -1)


def _spin(img, c, r, color, tool, u, d, phase) -> None:
    a = phase + u * 2 * math.pi * 3  # a drill bit, 3 turns per second
    for k in range(2):
        dx, dy = (
            int(r * 0.5 * math.cos(a + k * math.pi / 2)),
            int(r * 0.5 * math.sin(a + k * math.pi / 2)),
        )
        cv2.line(img, (c[0] - dx, c[1] - dy), (c[0] + dx, c[1] + dy), tool, max(2, r // 8), AA)


def _turn(img, c, r, color, tool, u, d, phase) -> None:
    a = phase + u * 2 * math.pi * 0.3
    _hexagon(img, c, int(r * 0.6), color, a)
    end = (c[0] + int(r * 1.8 * math.cos(a)), c[1] + int(r * 1.8 * math.sin(a)))
    cv2.line(img, c, end, tool, max(3, r // 5), AA)  # the wrench handle


def _paint(img, c, r, color, tool, u, d, phase) -> None:
    h, w = img.shape[:2]
    x = int(w * 0.05 + w * 0.9 * min(1.0, u / max(1.0, d * 0.9)))
    img[int(h * 0.08) : int(h * 0.88), int(w * 0.05) : x] = tool
    y = int(h * 0.48 + h * 0.3 * math.sin(phase + u * 2 * math.pi * 0.7))
    cv2.rectangle(img, (x - 4, y - r // 2), (x + 4, y + r // 2), (230, 230, 230), -1)  # roller
    cv2.line(img, (x + 4, y), (x + r // 2, y + r), (40, 40, 40), 2)


def _fold(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    k = 1.0 - 0.5 * min(1.0, u / max(1.0, d * 0.6))
    half_w, half_h = int(r * 1.5 * k), int(r * 0.8)
    cv2.rectangle(img, (cx - half_w, cy - half_h), (cx + half_w, cy + half_h), color, -1)
    cv2.line(img, (cx + half_w, cy - half_h), (cx + half_w, cy + half_h), (180, 180, 180), 2)
    for y in range(cy - half_h + 4, cy + half_h, 6):  # stripes woven in the towel
        cv2.line(img, (cx - half_w, y), (cx + half_w, y), (220, 210, 200), 1)


def _bubbles(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    for i in range(12):
        x = cx + int((frac(i * GOLDEN + phase) - 0.5) * 3.6 * r)
        y = cy - int(frac(i * GOLDEN * 2.3 + u * 0.5) * 1.6 * r)
        cv2.circle(img, (x, y), max(2, r // 8), tool, 1, AA)


def _flicker(img, c, r, color, tool, u, d, phase) -> None:
    cx, cy = c
    k = 1.0 + 0.25 * math.sin(phase + u * 13.0) + 0.15 * math.sin(u * 29.0)
    centre = (cx, cy - r // 2 - int(r * 0.35 * k))
    cv2.ellipse(img, centre, (max(2, r // 6), int(r * 0.35 * k)), 0, 0, 360, tool, -1, AA)
    cv2.ellipse(img, centre, (max(1, r // 12), int(r * 0.15 * k)), 0, 0, 360, (200, 250, 255), -1)


MOTIONS: dict[str, Callable] = {
    "pour": _pour, "sprinkle": _sprinkle, "stir": _stir, "whisk": _whisk, "cut": _cut,
    "squash": _squash, "dig": _dig, "hammer": _hammer, "sand": _sand, "spin": _spin,
    "turn": _turn, "paint": _paint, "fold": _fold, "bubbles": _bubbles, "flicker": _flicker,
}  # fmt: skip
