"""Draw the quality suite's planned videos and write them as a HowTo100M-style folder.

`write_folder(out, family, seed)` writes `videos/` (H.264 mp4 / mkv, VP9 webm, no audio: the
subtitles are given, so nothing listens), `subtitles/` (sentence-level vtt / srt / json) and
`annotations/htm_align.json`; family "generator" is the project's own `aligner.synthetic`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from benchmarks.quality import images
from benchmarks.quality.families import PLANNERS, VIDEOS, Shot, VideoPlan

FPS = 4.0  # frames per second written (features sample 1 per second)
NOISE_SD = 3.0  # per-pixel camera noise, grey levels
FAMILIES = (*PLANNERS, "generator")
CODECS = {
    "mp4": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p"],
    "mkv": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p"],
    "webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0",
             "-crf", "40", "-pix_fmt", "yuv420p"],
}  # fmt: skip


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def _crop(img: np.ndarray, scale: float, cx: float, cy: float, aspect: float) -> np.ndarray:
    """A crop of `img` of `scale` x its size, centred at (cx, cy) fractions, with `aspect`."""
    h, w = img.shape[:2]
    ch = min(h, w / aspect) * scale
    cw = ch * aspect
    x0 = int(np.clip(cx * w - cw / 2, 0, w - cw))
    y0 = int(np.clip(cy * h - ch / 2, 0, h - ch))
    return img[y0 : y0 + int(ch), x0 : x0 + int(cw)]


class Painter:
    """Frames of one planned video; shots keep their look for their whole length."""

    def __init__(self, plan: VideoPlan):
        self.plan, (self.w, self.h) = plan, plan.size
        look = np.random.default_rng(plan.look)
        self.backdrop = look.integers(40, 200, size=3).astype(np.float32)
        self.face = images.faces()[int(look.integers(len(images.faces())))]
        ws = images.workspaces()[int(look.integers(len(images.workspaces())))]
        tint = look.uniform(0.7, 1.2, size=3)
        self.workspace = np.clip(_resize(_crop(ws, 0.8, 0.5, 0.5, self.w / self.h), self.w,
                                         self.h) * tint, 0, 255).astype(np.float32)  # fmt: skip

    def frame(self, t: float) -> np.ndarray:
        shots = self.plan.shots
        i = max(0, int(np.searchsorted([s.start for s in shots], t, side="right")) - 1)
        img = self.draw(shots[i], t)
        fade = self.plan.fade_s
        if fade and i > 0 and t - shots[i].start < fade:
            alpha = (t - shots[i].start) / fade
            img = alpha * img + (1 - alpha) * self.draw(shots[i - 1], t)
        rng = np.random.default_rng(int(t * 1000) + self.plan.look % 1000)
        img = img * rng.uniform(0.95, 1.05) + rng.normal(0, NOISE_SD, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)

    def draw(self, shot: Shot, t: float) -> np.ndarray:
        u = (t - shot.start) / max(shot.end - shot.start, 1e-3)  # 0..1 through the shot
        return getattr(self, f"_{shot.kind}")(shot, t, float(np.clip(u, 0, 1)))

    def _head(self, shot: Shot, t: float, u: float) -> np.ndarray:
        img = np.tile(self.backdrop, (self.h, self.w, 1))
        side = int(self.h * 0.7)
        face = _resize(self.face, side, side)[..., None] * 255.0 * np.array([1.0, 0.85, 0.75])
        x0 = self.w // 2 - side // 2 + int(3 * np.sin(t * 0.9))
        y0 = int(self.h * 0.12 + 2 * np.sin(t * 1.7))
        img[y0 : y0 + side, x0 : x0 + side] = face
        img[y0 + side :, x0 - side // 4 : x0 + side + side // 4] = self.backdrop[::-1] * 0.6
        return img

    def _photo(self, shot: Shot, t: float, u: float) -> np.ndarray:
        r = np.random.default_rng(shot.seed).uniform(size=6)
        scale = 0.95 - 0.35 * (r[0] + (r[1] - r[0]) * u)  # slow zoom in or out
        cx, cy = 0.3 + 0.4 * (r[2] + (r[3] - r[2]) * u), 0.3 + 0.4 * (r[4] + (r[5] - r[4]) * u)
        src = images.things()[shot.things[0]]
        return _resize(_crop(src, scale, cx, cy, self.w / self.h), self.w, self.h).astype(
            np.float32
        )

    def _workspace(self, shot: Shot, t: float, u: float) -> np.ndarray:
        img = self.workspace.copy()
        if not shot.things:
            return img
        r = np.random.default_rng(shot.seed)
        src = images.things()[shot.things[0]]
        side = r.uniform(0.5, 0.75) * self.h
        k = side / max(src.shape[:2])
        tw, th = max(2, int(src.shape[1] * k)), max(2, int(src.shape[0] * k))
        thing = _resize(src, tw, th).astype(np.float32)
        x, y = r.uniform(0, self.w - tw), r.uniform(0, self.h - th)
        enter, leave = t - shot.start, shot.end - t  # seconds into / left of the shot
        slide = max(0.0, 1.5 - enter) / 1.5 + max(0.0, 1.0 - leave)  # 1 = fully out of view
        dx = int(r.choice([-1, 1]) * slide * (self.w + tw) / 1.0)
        x0, y0 = int(x) + dx, int(y)
        xs, xe = max(0, x0), min(self.w, x0 + tw)
        if xe > xs:
            img[y0 : y0 + th, xs:xe] = thing[:, xs - x0 : xe - x0]
        return img

    def _collage(self, shot: Shot, t: float, u: float) -> np.ndarray:
        img = np.tile(self.backdrop * 0.5 + 60, (self.h, self.w, 1))
        n = len(shot.things)
        tile_w = self.w // n
        r = np.random.default_rng(shot.seed).uniform(size=2 * n)
        for j, name in enumerate(shot.things):
            cx = 0.35 + 0.3 * (r[2 * j] + (r[2 * j + 1] - r[2 * j]) * u)
            crop = _crop(images.things()[name], 0.85, cx, 0.5, tile_w / self.h)
            img[:, j * tile_w : (j + 1) * tile_w] = _resize(crop, tile_w, self.h)
        return img


def encode(plan: VideoPlan, path: Path) -> Path:
    """Frames piped as raw RGB into ffmpeg (codec by container)."""
    w, h = plan.size
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{FPS:g}", "-i", "-",
           *CODECS[plan.container], str(path)]  # fmt: skip
    painter = Painter(plan)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for i in range(int(plan.duration * FPS)):
        proc.stdin.write(painter.frame(i / FPS).tobytes())
    proc.stdin.close()
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"{path}: ffmpeg failed: {err.strip()[-300:]}")
    return path


def write_subtitles(plan: VideoPlan, folder: Path) -> Path:
    from aligner.subtitles import Cue, write_srt, write_vtt

    cues = [Cue(s.start, s.end, s.text) for s in plan.sentences]
    path = folder / f"{plan.video_id}.{plan.subtitle_format}"
    if plan.subtitle_format == "vtt":
        write_vtt(cues, path)
    elif plan.subtitle_format == "srt":
        write_srt(cues, path)
    else:
        data = {"start": [c.start for c in cues], "end": [c.end for c in cues],
                "text": [c.text for c in cues]}  # fmt: skip
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


def plans(family: str, seed: int, n_videos: int | None = None, offset=None) -> list[VideoPlan]:
    """The folder's plans; `offset` narrates them with another offset sampler (same shots)."""
    n = n_videos or VIDEOS[family]
    return [PLANNERS[family](seed, i, offset) for i in range(n)]


def write_folder(out: Path, family: str, seed: int, n_videos: int | None = None) -> Path:
    """Write one folder of `family` (deterministic in `seed`); replaces `out`."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    if family == "generator":
        from aligner.synthetic import generate_dataset

        generate_dataset(out, n_videos=n_videos or 24, seed=seed, width=192, height=108, fps=4.0,
                         audio=False, formats=("vtt", "srt", "json"), progress=False)  # fmt: skip
        return out
    for sub in ("videos", "subtitles", "annotations"):
        (out / sub).mkdir(parents=True)
    truth = {}
    for plan in plans(family, seed, n_videos):
        encode(plan, out / "videos" / f"{plan.video_id}.{plan.container}")
        write_subtitles(plan, out / "subtitles")
        truth[plan.video_id] = [s.ground_truth() for s in plan.sentences]
    (out / "annotations" / "htm_align.json").write_text(json.dumps(truth, indent=1) + "\n")
    return out
