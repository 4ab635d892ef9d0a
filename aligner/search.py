"""Moment search: a text query -> ranked moments (video, start, end, score) across a dataset.

The dual encoder's view (the same embeddings as `TAN.similarities`' dual branch): per second,
the dual-encoder video token; per query, the projected sentence vector; score = their cosine.
Per-second video tokens come from 64 s windows every 16 s averaged over overlaps and
re-normalised (TAN's windowed inference), so a second sees the same context as at prediction.

Index (`.aligner/search/<checkpoint hash>/`): float16 `.npy` shards of `(rows, d)` unit vectors +
`manifest.json` (which video owns which rows, and a hash of its features). `build_index` is
incremental and idempotent: a video whose features are unchanged is skipped; new or changed
videos go into one new shard per call (a changed video's old rows are left in place, unused).

Search is exact: blocked matmul over memory-mapped shards + `argpartition` (float16 products
pick candidates, rescored in float32: see `_block_top`), so memory
stays at one block whatever the index size (10M x 128 vectors = 2.4 GiB of float16 on disk).
The best `pool` seconds per query are merged into moments: runs of consecutive seconds of one
video (gaps of at most `MERGE_GAP_S`) become one moment [first, last + 1) scored by its best
second.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligner.atomic import atomic_save_npy, atomic_write_json
from aligner.errors import AlignerError

SEARCH_DIR = "search"  # under the workspace root
MANIFEST = "manifest.json"
BLOCK_ROWS = 65_536  # vectors per matmul block: bounds memory whatever the index size
QUERY_CHUNK = 256  # queries scored together per block (block x chunk float32 scores)
MERGE_GAP_S = 1  # hit seconds at most this far apart join one moment
POOL_PER_MOMENT = 20  # best seconds gathered per requested moment before merging
MIN_POOL = 200
RESCORE_MARGIN = 64  # float16-scored candidates per query and block beyond the pool, rescored
STRIDE_S = 16  # window stride of the per-second embeddings (as `infer.STRIDE_S`)


@dataclass(frozen=True)
class Moment:
    """A search hit: seconds [start, end) of a video; score = cosine of its best second."""

    video_id: str
    start: float
    end: float
    score: float
    peak: float  # the best second (its feature covers [peak, peak + 1) s)


# -- embeddings --------------------------------------------------------------------------------
def video_embeddings(model, video: Sequence[np.ndarray]) -> np.ndarray:
    """Per-second dual-encoder video tokens `(T, n x d)` float32, unit length, from one `(T, D_i)`
    array per backbone (64 s windows every 16 s, averaged where they overlap); an ensemble's n
    members side by side, scaled by 1/sqrt(n) (a cosine is the mean of the members')."""
    from aligner.tan.model import members_of

    return _side_by_side([_member_video(m, video) for m in members_of(model)])


def _side_by_side(parts: list[np.ndarray]) -> np.ndarray:
    return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)


def _member_video(model, video: Sequence[np.ndarray]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = min(v.shape[0] for v in video)
    window = model.cfg.window_s
    d = model.cfg.width
    if t == 0:
        return np.zeros((0, d), np.float32)
    total, count = np.zeros((t, d)), np.zeros((t, 1))
    starts = range(0, max(1, t - window // 2), STRIDE_S) if t > window else [0]
    with torch.no_grad():
        for t0 in starts:
            t1 = min(t, t0 + window)
            x = [torch.from_numpy(np.asarray(v[t0:t1], np.float32))[None] for v in video]
            tokens = model.encode_video_tokens(x)  # (1, t', d)
            # as `TAN.forward`: positions only when the dual encoder has temporal context
            dual_in = tokens + model.positions(t1 - t0) if model.cfg.dual_layers else tokens
            pad = torch.zeros(1, t1 - t0, dtype=torch.bool)
            dual = model.dual_norm(model.dual_encoder(dual_in, src_key_padding_mask=pad))
            dual = F.normalize(dual, dim=-1)
            total[t0:t1] += dual[0].numpy()
            count[t0:t1] += 1
    mean = total / np.maximum(count, 1)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True).clip(1e-8)).astype(np.float32)


def text_embeddings(model, vectors: np.ndarray) -> np.ndarray:
    """Dual-branch text embeddings `(n, d x members)` float32, unit length, of sentence vectors
    `(n, Dt)` (an ensemble's members side by side, as `video_embeddings`)."""
    import torch
    import torch.nn.functional as F

    from aligner.tan.model import members_of

    x = torch.from_numpy(np.asarray(vectors, np.float32))
    with torch.no_grad():
        return _side_by_side([F.normalize(m.encode_text(x), dim=-1).numpy()
                              for m in members_of(model)])  # fmt: skip


def checkpoint_key(path: str | Path) -> str:
    """A short content hash of a checkpoint file: the index folder's name."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def model_checkpoint(ws, store=None, checkpoint: str | Path | None = None) -> Path:
    """`checkpoint`, else the latest tan run's checkpoint, else the default `tan.pt`."""
    from aligner.tan.checkpoints import default_checkpoint

    if checkpoint:
        return Path(checkpoint)
    run = store.latest_run("tan") if store is not None else None
    if run and run.get("checkpoint") and Path(run["checkpoint"]).is_file():
        return Path(run["checkpoint"])
    return default_checkpoint(ws)


# -- the index ---------------------------------------------------------------------------------
@dataclass
class SearchIndex:
    """A loaded index: shard files, and per global row its video and second (-1 = stale)."""

    root: Path
    manifest: dict
    row_video: np.ndarray  # (N,) int32 index into `video_ids`, -1 for unused rows
    row_second: np.ndarray  # (N,) int32

    @property
    def video_ids(self) -> list[str]:
        return sorted(self.manifest["videos"])

    @property
    def n_vectors(self) -> int:
        return int((self.row_video >= 0).sum())

    def shards(self):
        """`(first global row, memory-mapped (rows, d) float16 array)` per shard."""
        first = 0
        for shard in self.manifest["shards"]:
            arr = np.load(self.root / shard["file"], mmap_mode="r")
            yield first, arr
            first += len(arr)

    def rows_of(self, video_id: str) -> tuple[int, int]:
        """Global `(first row, seconds)` of a video."""
        entry = self.manifest["videos"][video_id]
        offsets = np.cumsum([0] + [s["rows"] for s in self.manifest["shards"]])
        return int(offsets[entry["shard"]] + entry["row"]), int(entry["seconds"])

    def vectors_of(self, video_id: str) -> np.ndarray:
        """`(T, d)` float32 per-second embeddings of one video."""
        entry = self.manifest["videos"][video_id]
        arr = np.load(self.root / self.manifest["shards"][entry["shard"]]["file"], mmap_mode="r")
        return np.asarray(arr[entry["row"] : entry["row"] + entry["seconds"]], np.float32)


def index_dir(ws, key: str) -> Path:
    return ws.root / SEARCH_DIR / key


def open_index(root: Path) -> SearchIndex:
    """Load the manifest under `root` and the row -> (video, second) map."""
    path = root / MANIFEST
    if not path.is_file():
        raise AlignerError(f"{root}: no search index (run `aligner search` or build_index first)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    n = sum(s["rows"] for s in manifest["shards"])
    row_video, row_second = np.full(n, -1, np.int32), np.zeros(n, np.int32)
    offsets = np.cumsum([0] + [s["rows"] for s in manifest["shards"]])
    for i, vid in enumerate(sorted(manifest["videos"])):
        entry = manifest["videos"][vid]
        first = offsets[entry["shard"]] + entry["row"]
        row_video[first : first + entry["seconds"]] = i
        row_second[first : first + entry["seconds"]] = np.arange(entry["seconds"])
    return SearchIndex(root, manifest, row_video, row_second)


def empty_manifest(key: str, checkpoint: Path, dim: int) -> dict:
    return {"checkpoint": str(checkpoint), "key": key, "dim": dim, "shards": [], "videos": {}}


def append_shard(root: Path, manifest: dict, vectors: dict[str, np.ndarray],
                 hashes: dict[str, str]) -> None:  # fmt: skip
    """Write `vectors` (video -> (T, d)) as one float16 shard, then the manifest (atomically,
    shard first: a crash between the two leaves an unused file, never a dangling row)."""
    if not vectors:
        return
    number = len(manifest["shards"])
    name = f"shard-{number:05d}.npy"
    rows, row = [], 0
    for vid, vec in vectors.items():
        manifest["videos"][vid] = {"shard": number, "row": row, "seconds": len(vec),
                                   "features": hashes[vid]}  # fmt: skip
        rows.append(vec)
        row += len(vec)
    atomic_save_npy(root / name, np.concatenate(rows).astype(np.float16))
    manifest["shards"].append({"file": name, "rows": row})
    atomic_write_json(root / MANIFEST, manifest)


def features_hash(video: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha1()
    for v in video:
        digest.update(np.ascontiguousarray(v, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class IndexSummary:
    root: Path
    n_videos: int
    n_vectors: int
    added: int
    skipped: list[str]
    seconds: float

    def __str__(self) -> str:
        bad = f"; {len(self.skipped)} video(s) skipped: {self.skipped[0]}" if self.skipped else ""
        return (f"search index {self.root}: {self.n_videos} videos, {self.n_vectors} vectors"
                f" ({self.added} videos added) in {self.seconds:.1f} s{bad}")  # fmt: skip


def build_index(ws, *, checkpoint: str | Path | None = None, store=None,
                progress: bool = True) -> IndexSummary:  # fmt: skip
    """Add every ok video whose features are new or changed to the index of `checkpoint`
    (default: the latest tan run's, else `tan.pt`). Idempotent; resumes after a crash."""
    import time

    from aligner.store import Store

    started = time.perf_counter()
    if store is None:
        with Store(ws.db_path, read_only=True) as opened:
            return build_index(ws, checkpoint=checkpoint, store=opened, progress=progress)
    path = model_checkpoint(ws, store, checkpoint)
    model = load_model(path)
    key = checkpoint_key(path)
    root = index_dir(ws, key)
    manifest_path = root / MANIFEST
    manifest = (json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file()
                else empty_manifest(key, path, model.cfg.width * model.cfg.members))  # fmt: skip
    videos = [v["video_id"] for v in store.videos(status="ok")]
    added, hashes, skipped = _embed_new(ws, model, videos, manifest, progress)
    root.mkdir(parents=True, exist_ok=True)
    append_shard(root, manifest, added, hashes)
    if not manifest_path.is_file():
        atomic_write_json(manifest_path, manifest)
    n_vectors = sum(e["seconds"] for e in manifest["videos"].values())
    return IndexSummary(root, len(manifest["videos"]), n_vectors, len(added), skipped,
                        time.perf_counter() - started)  # fmt: skip


def load_model(path: Path):
    """The TAN model of a checkpoint, in eval mode."""
    from aligner.tan.checkpoints import load_checkpoint

    return load_checkpoint(path)[0]


def _embed_new(ws, model, videos: list[str], manifest: dict, progress: bool):
    """Embeddings of the videos whose features are not (or not so) in the manifest."""
    from tqdm import tqdm

    from aligner import features

    added, hashes, skipped = {}, {}, []
    for vid in tqdm(videos, desc="index", unit="video", disable=not progress):
        try:
            video = features.load_video_features(ws, vid, list(model.spec.visual))
        except AlignerError as err:
            skipped.append(f"{vid}: {err}")
            continue
        digest = features_hash(video)
        if manifest["videos"].get(vid, {}).get("features") == digest:
            continue
        if min(v.shape[0] for v in video) == 0:
            skipped.append(f"{vid}: no video features (shorter than 1 s?)")
            continue
        added[vid], hashes[vid] = video_embeddings(model, video), digest
    return added, hashes, skipped


# -- searching ---------------------------------------------------------------------------------
def top_seconds(index: SearchIndex, queries: np.ndarray, pool: int) -> tuple[np.ndarray, ...]:
    """The `pool` best rows per query: `(rows (n, pool) int64, scores (n, pool) float32)`,
    best first; exact (every stored vector is scored), one block in memory at a time."""
    queries = np.atleast_2d(np.asarray(queries, np.float32))
    rows = np.zeros((len(queries), 0), np.int64)
    scores = np.zeros((len(queries), 0), np.float32)
    for first, arr in index.shards():
        for b0 in range(0, len(arr), BLOCK_ROWS):
            block = arr[b0 : b0 + BLOCK_ROWS]  # (R, d) float16
            valid = index.row_video[first + b0 : first + b0 + len(block)] >= 0
            r, s = _block_top(block, valid, queries, pool, first + b0)
            rows, scores = _keep_best(np.hstack([rows, r]), np.hstack([scores, s]), pool)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)


def _block_top(block, valid, queries, pool: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query the `pool` best rows of one block: `(n, k)` global rows and their scores.

    Scored in two steps: a float16 matmul (torch accumulates in float32; no float32 copy of the
    block, which costs 5x more than the product itself) picks `pool + RESCORE_MARGIN`
    candidates, which are then rescored exactly in float32: the float16 rounding of a score
    (< 1e-3) could only reorder candidates at the pool's far end, never the best ones."""
    import torch

    half = torch.from_numpy(np.array(block, dtype=np.float16))  # (R, d), a copy of the block
    k = min(len(block), pool + RESCORE_MARGIN)
    rows, vals = [], []
    for q0 in range(0, len(queries), QUERY_CHUNK):
        q = queries[q0 : q0 + QUERY_CHUNK]
        approx = (half @ torch.from_numpy(q).half().T).T.float().numpy()  # (nq, R)
        approx[:, ~valid] = -np.inf
        cand, _ = _keep_best(np.broadcast_to(np.arange(len(block)), approx.shape), approx, k)
        exact = np.einsum("nkd,nd->nk", np.asarray(block[cand], np.float32), q)  # (nq, k)
        exact[~valid[cand]] = -np.inf
        r, v = _keep_best(cand, exact, pool)
        rows.append(r + offset)
        vals.append(v)
    return np.concatenate(rows), np.concatenate(vals)


def _keep_best(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of `scores` (unordered), with their `rows` entries."""
    if scores.shape[1] <= k:
        return np.array(rows, dtype=np.int64), scores
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(rows, idx, 1).astype(np.int64), np.take_along_axis(scores, idx, 1)


def merge_moments(index: SearchIndex, rows: np.ndarray, scores: np.ndarray,
                  top: int) -> list[Moment]:  # fmt: skip
    """Moments from one query's best rows: consecutive seconds of one video merge."""
    ids = index.video_ids
    keep = (rows >= 0) & np.isfinite(scores)
    rows, scores = rows[keep], scores[keep]
    vids, secs = index.row_video[rows], index.row_second[rows]
    order = np.lexsort((secs, vids))
    moments, run = [], []
    for i in order:
        if run and (vids[i] != vids[run[-1]] or secs[i] - secs[run[-1]] > MERGE_GAP_S):
            moments.append(_moment(ids, vids, secs, scores, run))
            run = []
        run.append(i)
    if run:
        moments.append(_moment(ids, vids, secs, scores, run))
    moments.sort(key=lambda m: (-m.score, m.video_id, m.start))
    return moments[:top]


def _moment(ids, vids, secs, scores, run: list[int]) -> Moment:
    best = max(run, key=lambda i: scores[i])
    return Moment(ids[vids[run[0]]], float(secs[run[0]]), float(secs[run[-1]] + 1),
                  float(scores[best]), float(secs[best]))  # fmt: skip


def search_vectors(index: SearchIndex, queries: np.ndarray, *, top: int = 10) -> list[list[Moment]]:
    """The `top` moments of each query embedding `(n, d)` (unit length, the index's space)."""
    pool = max(MIN_POOL, top * POOL_PER_MOMENT)
    rows, scores = top_seconds(index, queries, pool)
    return [merge_moments(index, r, s, top) for r, s in zip(rows, scores, strict=True)]


def search_texts(ws, texts: Sequence[str], *, top: int = 10, checkpoint: str | Path | None = None,
                 store=None, progress: bool = False) -> list[list[Moment]]:  # fmt: skip
    """Moments for text queries: the index is brought up to date first (incremental)."""
    from aligner import features

    summary = build_index(ws, checkpoint=checkpoint, store=store, progress=progress)
    index = open_index(summary.root)
    model = load_model(Path(index.manifest["checkpoint"]))
    vectors = features.load_text_features(ws, list(texts), model.spec.text)
    return search_vectors(index, text_embeddings(model, vectors), top=top)


def format_moments(query: str, moments: Sequence[Moment]) -> str:
    """A plain table: rank, video, start-end (s), score."""
    lines = [f"query: {query!r}", f"{'#':>3}  {'video':<24}{'start':>8}{'end':>8}{'score':>8}"]
    for n, m in enumerate(moments, 1):
        lines.append(f"{n:>3}  {m.video_id:<24}{m.start:>8.0f}{m.end:>8.0f}{m.score:>8.3f}")
    if not moments:
        lines.append("(no moments: the index is empty)")
    return "\n".join(lines)
