"""Feature cache: one `.npy` per (backbone key, video), written so a killed process never leaves
a half file that is read back.

Layout: `ws.root/features/<backbone key>/<video_id>.npy` plus `<video_id>.json`, the sidecar,
holding the video's size and mtime when the features were computed and the size/mtime of the
`.npy` it describes. A read is valid only when the sidecar matches both the current video and
the current `.npy`; anything else (changed video, crash between the two writes, stray file)
reads as a miss and the features are recomputed. Every file is written to a temporary file in
the same folder and moved into place with `os.replace`, which is atomic on POSIX and Windows.
The backbone key names the backbone and every parameter that changes its output (fps, frame
size, model identity, descriptor version), so a changed parameter lands in another folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from aligner.atomic import atomic_save_npy, atomic_write_json

CACHE_FORMAT = 1  # sidecar format version
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def safe_name(text: str) -> str:
    """A file-system-safe rendering of a key or id (no slashes, no spaces)."""
    return _UNSAFE.sub("_", text).strip("._") or "_"


def file_stamp(path: Path) -> dict[str, int] | None:
    """Size and mtime (ns) of a file, or None when it is missing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class FeatureCache:
    """Per-video feature arrays for one backbone key, under `root/<key>/`."""

    def __init__(self, root: Path, key: str):
        self.key = key
        self.folder = Path(root) / safe_name(key)

    def paths(self, video_id: str) -> tuple[Path, Path]:
        stem = safe_name(video_id)
        return self.folder / f"{stem}.npy", self.folder / f"{stem}.json"

    def valid(self, video_id: str, video_path: Path | None = None) -> dict[str, Any] | None:
        """The sidecar when it vouches for the current video and `.npy` (no array is read).

        `video_path` None means: take the path recorded in the sidecar (cache lookups that
        have no store row at hand) and still check that the video has not changed.
        """
        meta = self.sidecar(video_id)
        if meta is None or meta.get("format") != CACHE_FORMAT or meta.get("key") != self.key:
            return None
        video_path = Path(video_path) if video_path else Path(meta.get("video_path", ""))
        if file_stamp(video_path) != meta.get("video"):
            return None
        return meta if file_stamp(self.paths(video_id)[0]) == meta.get("npy") else None

    def load(self, video_id: str, video_path: Path | None = None) -> np.ndarray | None:
        """The cached (T, D) array, or None when missing, stale or inconsistent."""
        npy = self.paths(video_id)[0]
        meta = self.valid(video_id, video_path)
        if meta is None:
            return None
        try:
            array = np.load(npy, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return array if list(array.shape) == meta.get("shape") else None

    def sidecar(self, video_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.paths(video_id)[1].read_text())
        except (OSError, ValueError):
            return None

    def save(self, video_id: str, video_path: Path, array: np.ndarray) -> None:
        """Store `array` for `video_id`; the sidecar goes last, so it only ever vouches for a
        complete `.npy`."""
        npy, side = self.paths(video_id)
        atomic_save_npy(npy, array)
        meta = {
            "format": CACHE_FORMAT,
            "key": self.key,
            "video_id": video_id,
            "video_path": str(Path(video_path).resolve()),
            "video": file_stamp(Path(video_path)),
            "npy": file_stamp(npy),
            "shape": list(array.shape),
        }
        atomic_write_json(side, meta)
