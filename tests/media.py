"""Tiny real media files for tests, made with Debian's ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg_video(
    path: Path, seconds: float = 5, size: str = "160x120", codec: str = "libx264", *extra: str
) -> Path:
    """A `seconds`-long testsrc video at 10 fps (H.264 yuv420p unless another `codec`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = (*(["-pix_fmt", "yuv420p"] if codec == "libx264" else ["-b:v", "100k"]), *extra)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc=size={size}:rate=10", "-t", str(seconds), "-c:v", codec, *extra, str(path)],
        check=True,
    )  # fmt: skip
    return path
