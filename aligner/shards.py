"""Parquet shards: what the batch pipeline writes, what training streams, what the store imports.

A shard is a fixed group of videos (by a hash of the video id, so a video always lands in the
same shard of an output folder). Under `OUT/shards/` each shard has:
  <shard>.predictions.parquet  one row per sentence: video_id, idx, sentence_id, text, ASR times,
                               alignability, start, end, peak, dual_alignability, dual_peak
  <shard>.similarity.parquet   one row per video: the fused K x T similarity as float16 bytes
  <shard>.features.parquet     one row per video: per-second features per backbone and the
                               sentence vectors (float32 bytes) + ASR times, what training reads
  <shard>.status.json          written last (its presence = the shard is finished): per video
                               ok / failed with the error, and how many attempts the shard took
`OUT/layout.json` fixes the number of shards of the folder at its first run.
Blobs are raw little-endian bytes with their shape beside them: no pickling, any reader works.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aligner.atomic import atomic_write, atomic_write_json
from aligner.errors import AlignerError

SHARDS_DIR = "shards"
LAYOUT_FILE = "layout.json"
VIDEOS_PER_SHARD = 64  # default shard size when a folder is first laid out
MAX_ATTEMPTS = 3  # a shard with failed videos is re-run at most this many times in all
FEATURE_ROW_GROUP = 8  # videos per Parquet row group: what a training reader holds at once
KINDS = ("predictions", "similarity", "features")


# -- layout ------------------------------------------------------------------------------------
def shard_count(out: Path, n_videos: int, videos_per_shard: int = VIDEOS_PER_SHARD) -> int:
    """The folder's number of shards: read from `layout.json`, or fixed now on a first run."""
    layout = Path(out) / LAYOUT_FILE
    if layout.is_file():
        return int(json.loads(layout.read_text())["shards"])
    count = max(1, -(-n_videos // max(1, videos_per_shard)))
    atomic_write_json(layout, {"shards": count})
    return count


def shard_name(video_id: str, count: int) -> str:
    """The shard a video belongs to (crc32 of its id: stable across runs and machines)."""
    return f"shard-{zlib.crc32(video_id.encode()) % count:05d}"


def shard_path(out: Path, shard: str, kind: str) -> Path:
    suffix = "status.json" if kind == "status" else f"{kind}.parquet"
    return Path(out) / SHARDS_DIR / f"{shard}.{suffix}"


def shard_status(out: Path, shard: str) -> dict | None:
    path = shard_path(out, shard, "status")
    return json.loads(path.read_text()) if path.is_file() else None


def needs_run(out: Path, shard: str, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """True unless the shard is finished: written with every video ok, or its failures have
    had `max_attempts` tries already (bounded retries: a broken file will not heal)."""
    status = shard_status(out, shard)
    if status is None:
        return True
    has_failures = any(v["status"] != "ok" for v in status["videos"].values())
    return has_failures and int(status["attempts"]) < max_attempts


def attempts_so_far(out: Path, shard: str) -> int:
    status = shard_status(out, shard)
    return 0 if status is None else int(status["attempts"])


# -- writing -----------------------------------------------------------------------------------
@dataclass
class ShardResult:
    shard: str
    ok: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # video_id -> error


def write_shard(out: Path, shard: str, videos: Sequence[dict], *, attempts: int,
                meta: dict | None = None) -> ShardResult:  # fmt: skip
    """Write one shard's three Parquet files from finished video dicts (`aligner.stages`), then
    its status file. Each file is written atomically: a killed run leaves no half shard."""
    from aligner.stages import failed, prediction_records

    good = sorted((v for v in videos if not failed(v)), key=lambda v: str(v["video_id"]))
    predicted = [v for v in good if "sim" in v]  # none in a features-only run
    records = [r for v in predicted for r in prediction_records(v)]
    _write_table(shard_path(out, shard, "predictions"), _columns(records, PREDICTION_SCHEMA),
                 PREDICTION_SCHEMA)  # fmt: skip
    _write_table(shard_path(out, shard, "similarity"), _similarity_columns(predicted), SIM_SCHEMA)
    _write_table(shard_path(out, shard, "features"), _feature_columns(good), FEATURE_SCHEMA,
                 row_group=FEATURE_ROW_GROUP)  # fmt: skip
    result = ShardResult(shard, ok=len(good))
    result.failed = {str(v["video_id"]): str(v["error"]) for v in videos if failed(v)}
    status = {
        "attempts": attempts, **(meta or {}),
        "videos": {**{str(v["video_id"]): {"status": "ok", "error": None} for v in good},
                   **{vid: {"status": "failed", "error": e} for vid, e in result.failed.items()}},
    }  # fmt: skip
    atomic_write_json(shard_path(out, shard, "status"), status)
    return result


PREDICTION_SCHEMA = {
    "video_id": "string", "idx": "int32", "sentence_id": "int64", "text": "string",
    "asr_start": "float64", "asr_end": "float64", "alignability": "float64", "start": "float64",
    "end": "float64", "peak": "float64", "dual_alignability": "float64", "dual_peak": "float64",
}  # fmt: skip
SIM_SCHEMA = {"video_id": "string", "k": "int32", "t": "int32", "sim": "binary"}
FEATURE_SCHEMA = {
    "video_id": "string", "duration": "float64", "starts": "list<float64>",
    "ends": "list<float64>", "text": "binary", "text_dim": "int32", "visual": "list<binary>",
    "visual_dims": "list<int32>", "sentence_ids": "list<int64>",
}  # fmt: skip


def _arrow_type(name: str):
    import pyarrow as pa

    if name.startswith("list<"):
        return pa.list_(_arrow_type(name[5:-1]))
    return pa.type_for_alias(name)


def _columns(records: list[dict], schema: dict[str, str]) -> dict[str, list]:
    return {name: [r[name] for r in records] for name in schema}


def _similarity_columns(videos: Sequence[dict]) -> dict[str, list]:
    sims = [np.ascontiguousarray(v["sim"], dtype="<f2") for v in videos]
    return {"video_id": [str(v["video_id"]) for v in videos], "k": [s.shape[0] for s in sims],
            "t": [s.shape[1] for s in sims], "sim": [s.tobytes() for s in sims]}  # fmt: skip


def _feature_columns(videos: Sequence[dict]) -> dict[str, list]:
    def blob(a: np.ndarray) -> bytes:
        return np.ascontiguousarray(a, dtype="<f4").tobytes()

    return {
        "video_id": [str(v["video_id"]) for v in videos],
        "duration": [float(v["duration"]) for v in videos],
        "starts": [[float(x) for x in v["starts"]] for v in videos],
        "ends": [[float(x) for x in v["ends"]] for v in videos],
        "text": [blob(v["text_features"]) for v in videos],
        "text_dim": [int(v["text_features"].shape[1]) for v in videos],
        "visual": [[blob(a) for a in v["visual"]] for v in videos],
        "visual_dims": [[int(a.shape[1]) for a in v["visual"]] for v in videos],
        "sentence_ids": [_ids(v) for v in videos],
    }


def _ids(video: dict) -> list[int] | None:
    ids = video.get("sentence_ids")
    return None if ids is None else [int(i) for i in ids]


def _write_table(path: Path, columns: dict[str, list], schema: dict[str, str], *,
                 row_group: int | None = None) -> None:  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.schema([(n, _arrow_type(t)) for n, t in schema.items()])
    table = pa.table(columns, schema=arrow)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: pq.write_table(table, f, row_group_size=row_group))


# -- reading -----------------------------------------------------------------------------------
def finished_shards(out: Path) -> list[str]:
    """Names of the shards whose status file exists, sorted."""
    folder = Path(out) / SHARDS_DIR
    return sorted(p.name.removesuffix(".status.json") for p in folder.glob("*.status.json"))


def shard_files(out: Path, kind: str) -> list[Path]:
    """The `kind` Parquet files of every finished shard (a half-written run adds none)."""
    return [shard_path(out, s, kind) for s in finished_shards(out)]


def iter_feature_videos(files: Iterable[Path], *, rank: int = 0, world: int = 1
                        ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Stream the videos of feature shards, one row group at a time (never a whole file in
    memory); worker `rank` of `world` gets every `world`-th video. Each: video_id, visual (list of
    float32 (T, D_i)), text (K, Dt), start / end (K,), sentence_ids."""
    import pyarrow.parquet as pq

    n = 0
    for path in files:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(batch_size=FEATURE_ROW_GROUP):
            for row in batch.to_pylist():
                n += 1
                if (n - 1) % world == rank:
                    yield _feature_video(row)


def iter_sentence_vectors(files: Iterable[Path]) -> Iterator[np.ndarray]:
    """Each video's `(K, Dt)` sentence vectors from feature shards, reading only the text
    columns (the sentence bank of the Ray trainer)."""
    import pyarrow.parquet as pq

    for path in files:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(FEATURE_ROW_GROUP, columns=["text", "text_dim"]):
            for row in batch.to_pylist():
                yield np.frombuffer(row["text"], "<f4").reshape(-1, row["text_dim"])


def _feature_video(row: dict) -> dict[str, Any]:
    k = len(row["starts"])
    visual = [np.frombuffer(b, "<f4").reshape(-1, d) for b, d in
              zip(row["visual"], row["visual_dims"], strict=True)]  # fmt: skip
    return {
        "video_id": row["video_id"], "visual": visual,
        "text": np.frombuffer(row["text"], "<f4").reshape(k, row["text_dim"]),
        "start": np.asarray(row["starts"]), "end": np.asarray(row["ends"]),
        "sentence_ids": row["sentence_ids"],
    }  # fmt: skip


def read_similarity(row: dict) -> np.ndarray:
    """The (K, T) float16 similarity of one similarity-shard row."""
    return np.frombuffer(row["sim"], "<f2").reshape(row["k"], row["t"])


def check_out_dir(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AlignerError(f"{out}: not a folder (the pipeline writes shards into a folder)")
    return out


# -- into the store ----------------------------------------------------------------------------
@dataclass
class ImportSummary:
    run_id: str
    shards: int
    imported: int
    unmatched: int
    similarities: int

    def __str__(self) -> str:
        unmatched = f" ({self.unmatched} rows matched no stored sentence)" if self.unmatched else ""
        return (
            f"imported {self.imported} predictions from {self.shards} shard(s) into run"
            f" {self.run_id}{unmatched}; {self.similarities} similarity matrices"
        )


def import_predictions(ws, out: Path, *, model: str = "tan", similarity: bool = True
                       ) -> ImportSummary:  # fmt: skip
    """Load every finished shard's predictions into the store as one `predict` run (DuckDB reads
    the Parquet files itself), and the similarity matrices where the review app looks for them."""
    from aligner.store import Store
    from aligner.tan.infer import save_similarity

    files = [p for p in shard_files(out, "predictions") if p.is_file()]
    if not files:
        raise AlignerError(
            f"{out}: no finished shards with predictions (run `aligner scale` first)"
        )
    meta = shard_status(out, finished_shards(out)[0]) or {}
    with Store(ws.db_path) as store:
        run_id = store.start_run("predict", model=model, params={
            "source": str(Path(out).resolve()), "mode": meta.get("mode"),
            "features": {"visual": meta.get("visual"), "text": meta.get("text")},
        })  # fmt: skip
        counts = store.import_prediction_files(run_id, files)
        known = {v["video_id"] for v in store.videos()}
        n_sim = 0
        for path in shard_files(out, "similarity") if similarity else []:
            n_sim += _import_similarity(ws, run_id, path, known, save_similarity)
        store.finish_run(run_id, checkpoint=meta.get("checkpoint"),
                         metrics={"imported": counts["imported"], "unmatched": counts["unmatched"]})  # fmt: skip
    return ImportSummary(run_id, len(files), counts["imported"], counts["unmatched"], n_sim)


def _import_similarity(ws, run_id: str, path: Path, known: set[str], save) -> int:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=FEATURE_ROW_GROUP):
        for row in batch.to_pylist():
            if row["video_id"] in known:
                save(ws, run_id, row["video_id"], read_similarity(row))
                n += 1
    return n


def local_feature_shards(ws, out: Path, *, visual: Sequence[str], text: str,
                         videos_per_shard: int = VIDEOS_PER_SHARD) -> int:  # fmt: skip
    """Feature shards (no predictions) from this workspace's feature caches, computing what is
    missing: training at scale then reads features computed by `aligner features`. Returns the
    number of videos written."""
    from aligner import features
    from aligner.manifest import store_manifest

    manifest = store_manifest(ws)
    count = shard_count(out, len(manifest), videos_per_shard)
    by_shard: dict[str, list[dict]] = {}
    for video in manifest:
        by_shard.setdefault(shard_name(str(video["video_id"]), count), []).append(video)
    meta = {"checkpoint": None, "visual": list(visual), "text": text, "mode": None}
    for shard, videos in sorted(by_shard.items()):
        for video in videos:
            video["visual"] = features.load_video_features(ws, video["video_id"], list(visual))
            video["text_features"] = features.load_text_features(ws, video["texts"], text)
        write_shard(out, shard, videos, attempts=1, meta=meta)
    return len(manifest)
