"""Draw the frames of a planned video with OpenCV: scene backgrounds, a step's object and motion
(`objects.py`), the talking head.

Everything is drawn in BGR uint8 arrays of shape (height, width, 3). Geometry comes from the
`Shot` (relative position and size), so any resolution works. A scene background is drawn once
per shot and copied per frame; only the object and its motion are drawn per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from aligner.synthetic.objects import AA, MOTIONS, SHAPES, SKIN, frac, jittered
from aligner.synthetic.plan import Shot, VideoPlan
from aligner.synthetic.vocab import CONCEPT_BY_NAME


# -- scenes (background textures) --------------------------------------------------------------
def _tiles(img, color, step: int, line, diagonal: bool = False) -> None:
    img[:] = color
    h, w = img.shape[:2]
    if diagonal:
        for k in range(-h, w + h, step):
            cv2.line(img, (k, 0), (k + h, h), line, 1)
            cv2.line(img, (k + h, 0), (k, h), line, 1)
        return
    for y in range(0, h, step):
        cv2.line(img, (0, y), (w, y), line, 1)
    for x in range(0, w, step):
        cv2.line(img, (x, 0), (x, h), line, 1)


def _kitchen(img, j) -> None:
    h, w = img.shape[:2]
    _tiles(img, jittered((205, 225, 238), j), max(8, h // 6), (160, 170, 180))
    top = int(h * 0.62)
    img[top:] = jittered((45, 90, 150), j)  # wooden counter
    for y in range(top + 4, h, max(3, h // 30)):
        cv2.line(img, (0, y), (w, y), jittered((35, 70, 120), j), 1)


def _board(img, j) -> None:
    h, w = img.shape[:2]
    _kitchen(img, j)
    cv2.rectangle(
        img, (w // 10, h // 3), (w - w // 10, h - h // 12), jittered((120, 175, 215), j), -1
    )
    cv2.rectangle(img, (w // 10, h // 3), (w - w // 10, h - h // 12), (70, 110, 150), 2)


def _garden(img, j) -> None:
    h, w = img.shape[:2]
    horizon = int(h * 0.4)
    img[:horizon] = jittered((235, 200, 150), j)
    img[horizon:] = jittered((60, 165, 70), j)
    for x in range(0, w, 4):
        cv2.line(img, (x, horizon), (x, h), jittered((40, 130, 50), j), 1)
    cv2.circle(img, (w // 8, h // 8), max(4, h // 12), (80, 230, 255), -1, AA)  # sun


def _workshop(img, j) -> None:
    h, w = img.shape[:2]
    img[:] = jittered((105, 110, 115), j)
    step = max(6, h // 12)
    for y in range(step // 2, int(h * 0.6), step):
        for x in range(step // 2, w, step):
            cv2.circle(img, (x, y), 1, (60, 60, 60), -1)  # pegboard holes
    img[int(h * 0.6) :] = jittered((40, 55, 70), j)  # dark workbench


def _wall(img, j) -> None:
    h, w = img.shape[:2]
    img[:] = jittered((215, 225, 230), j)
    img[int(h * 0.9) :] = (90, 90, 90)  # skirting board


def _laundry(img, j) -> None:
    _tiles(img, jittered((230, 205, 160), j), max(10, img.shape[0] // 5), (200, 170, 120), True)


def _night(img, j) -> None:
    h = img.shape[0]
    ramp = np.linspace(0.6, 1.0, h, dtype=np.float32)[:, None, None]
    img[:] = (np.array(jittered((70, 35, 25), j), np.float32) * ramp).astype(np.uint8)


def _studio(img, j) -> None:
    """The talking-head backdrop: the same in every video (j is ignored)."""
    h, w = img.shape[:2]
    ramp = np.linspace(1.0, 0.7, w, dtype=np.float32)[None, :, None]
    img[:] = (np.array((95, 100, 45), np.float32) * ramp).astype(np.uint8)
    x0, x1 = int(w * 0.74), int(w * 0.95)
    for k, y in enumerate(range(int(h * 0.15), int(h * 0.75), max(6, h // 8))):
        cv2.rectangle(img, (x0, y), (x1, y + 2), (40, 60, 90), -1)  # shelf
        for b in range(6):
            bx = x0 + 3 + b * (x1 - x0) // 7
            color = ((40, 40, 160), (160, 80, 40), (40, 140, 60))[(b + k) % 3]
            cv2.rectangle(img, (bx, y - max(4, h // 14)), (bx + 3, y), color, -1)


SCENES: dict[str, Callable] = {
    "kitchen": _kitchen, "board": _board, "garden": _garden, "workshop": _workshop,
    "wall": _wall, "laundry": _laundry, "night": _night, "studio": _studio,
}  # fmt: skip


# -- talking head ------------------------------------------------------------------------------
def draw_head(img, t: float, speaking: bool) -> None:
    """A simple face in the studio that moves its mouth while narration is being said."""
    h, w = img.shape[:2]
    r = int(min(w, h) * 0.22)
    cx = int(w * 0.45 + r * 0.08 * math.sin(t * 0.9))  # slight head sway
    cy = int(h * 0.45 + r * 0.04 * math.sin(t * 1.7))
    cv2.ellipse(img, (cx, h), (int(r * 1.6), int(r * 1.1)), 0, 180, 360, (120, 60, 40), -1, AA)
    cv2.circle(img, (cx, cy), r, SKIN, -1, AA)
    cv2.ellipse(img, (cx, cy - r // 3), (r, int(r * 0.75)), 0, 180, 360, (30, 40, 60), -1, AA)
    blink = frac(t / 3.3) < 0.05
    for dx in (-1, 1):
        eye = (cx + dx * r // 3, cy - r // 8)
        if blink:
            cv2.line(img, (eye[0] - 3, eye[1]), (eye[0] + 3, eye[1]), (40, 40, 40), 1)
        else:
            cv2.circle(img, eye, max(2, r // 10), (40, 40, 40), -1, AA)
    opening = (
        abs(math.sin(t * 2 * math.pi * 3.3)) * (0.6 + 0.4 * math.sin(t * 5.1)) if speaking else 0
    )
    mouth = (cx, cy + r // 2)
    cv2.ellipse(
        img, mouth, (r // 3, max(1, int(r * 0.25 * opening))), 0, 0, 360, (40, 30, 110), -1, AA
    )


# -- frames ------------------------------------------------------------------------------------
def shot_background(shot: Shot, width: int, height: int) -> np.ndarray:
    img = np.empty((height, width, 3), np.uint8)
    scene = CONCEPT_BY_NAME[shot.concept].scene if shot.kind == "step" else "studio"
    SCENES[scene](img, tuple(j // 2 for j in shot.jitter))  # backgrounds vary less than objects
    return img


def draw_step(img: np.ndarray, shot: Shot, t: float) -> None:
    """Draw the step's object and its motion at video time `t` (seconds) onto `img`."""
    concept = CONCEPT_BY_NAME[shot.concept]
    h, w = img.shape[:2]
    c, r = (int(shot.x * w), int(shot.y * h)), max(6, int(shot.scale * min(w, h) * 0.6))
    color = jittered(concept.color, shot.jitter)
    SHAPES[concept.shape](img, c, r, color)
    MOTIONS[concept.motion](img, c, r, color, concept.motion_color, t - shot.start,
                            shot.end - shot.start, shot.phase)  # fmt: skip


def iter_frames(plan: VideoPlan, width: int, height: int, fps: float) -> Iterator[np.ndarray]:
    """Yield the video's frames one at a time: (height, width, 3) uint8 BGR, `fps` per second.

    Memory stays bounded (one background and one frame), whatever the duration.
    """
    n_frames = int(round(plan.duration * fps))
    shots, speech = plan.shots, [(s.start, s.end) for s in plan.sentences]
    k = j = 0
    background = shot_background(shots[0], width, height)
    for i in range(n_frames):
        t = i / fps
        if k + 1 < len(shots) and t >= shots[k].end:
            while k + 1 < len(shots) and t >= shots[k].end:
                k += 1
            background = shot_background(shots[k], width, height)
        while j < len(speech) and speech[j][1] < t:
            j += 1
        frame = background.copy()
        if shots[k].kind == "step":
            draw_step(frame, shots[k], t)
        else:
            draw_head(frame, t, speaking=j < len(speech) and speech[j][0] <= t)
        yield frame
