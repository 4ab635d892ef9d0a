"""The list of videos a batch run works through: one dict per video.

Each entry: `video_id`, `path` (absolute; "" when only precomputed features exist), `duration`
(seconds), `sentence_ids` (None when the videos are not in a store), `starts`, `ends`, `texts`.
Two sources:
  the store      `store_manifest(ws)`: ok videos and their stored sentences (ingest first)
  a HowTo100M    `howto100m_manifest(list_file, dataset, features=...)`: video ids, one per line
  video list     (or a CSV with a `video_id` column), sentences from DATASET/caption.json made by
                 the same sentencify as ingest, duration = rows of the precomputed features
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aligner.errors import AlignerError, InputError


def store_manifest(ws) -> list[dict]:
    """Every ok video with sentences, from the store (one query; no per-video round trip)."""
    from aligner.store import Store

    if not Path(ws.db_path).exists():
        raise AlignerError(f"{ws.db_path}: no store yet; run `aligner ingest {ws.dataset}` first")
    with Store(ws.db_path, read_only=True) as store:
        rows = store.manifest_rows()
    for row in rows:
        row["path"] = str(Path(ws.dataset) / row["path"])
    return rows


def read_video_list(path: Path) -> list[str]:
    """Video ids from a text file (one per line) or a CSV whose header has `video_id`."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if lines and "video_id" in lines[0].split(","):
        column = lines[0].split(",").index("video_id")
        return [line.split(",")[column] for line in lines[1:]]
    return lines


def howto100m_manifest(list_file: Path, dataset: Path, *, features: str) -> list[dict]:
    """Manifest for videos known only by id, with precomputed `features` (HowTo100M's S3D) and
    captions in `dataset/caption.json`. Videos without captions or features are reported in
    one line each and left out."""
    from aligner.corpus import load_caption_json
    from aligner.features.visual import PrecomputedBackbone
    from aligner.sentencify import sentencify
    from aligner.subtitles import cues_from_json, normalize_cues

    dataset = Path(dataset)
    captions = load_caption_json(dataset, warn=_warn)
    backbone = PrecomputedBackbone(features.removeprefix("precomputed:"), dataset)
    out = []
    for video_id in read_video_list(list_file):
        try:
            entry = captions.get(video_id)
            if entry is None:
                raise InputError(dataset / "caption.json", f"no captions for video {video_id}")
            cues = normalize_cues(cues_from_json(entry, dataset / "caption.json"), dataset)
            sentences = sentencify(cues)
            rows = np.load(backbone.file(video_id), mmap_mode="r").shape[0]
        except AlignerError as err:
            _warn(str(err))
            continue
        out.append({
            "video_id": video_id, "path": "", "duration": float(rows), "sentence_ids": None,
            "starts": [s.start for s in sentences], "ends": [s.end for s in sentences],
            "texts": [s.text for s in sentences],
        })  # fmt: skip
    return out


def _warn(line: str) -> None:
    import sys

    print(f"aligner scale: {line}", file=sys.stderr)
