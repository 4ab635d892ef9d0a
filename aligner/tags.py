"""Entity tags per second (ALPRO's prompter): what is on screen, as calibrated soft tags.

The vocabulary (`aligner.vocabulary`: user list first, then noun phrases of the dataset's own
transcripts) is prompted "a video of {entity}" and embedded by the model's text side; a
second's raw tag score is the cosine of its search embedding (`aligner.search`, the dual
encoder's video token) with each prompt. Raw cosines are not comparable across entities (some
prompts sit closer to every video), so each entity is calibrated over the dataset's seconds:
score = z = (cosine - mean_e) / std_e. A second is *tagged* with an entity when z >= `TAG_Z`.

Stored in `.aligner/tags/`: `manifest.json` (entities, prompts, per-entity mean/std, the search
index they were computed from) and one float16 `(rows, E)` raw-cosine shard per index shard.
`compute_tags` is idempotent: nothing is rewritten when the index and the vocabulary are
unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligner.atomic import atomic_save_npy, atomic_write_json
from aligner.errors import AlignerError

TAGS_DIR = "tags"  # under the workspace root
MANIFEST = "manifest.json"
TAG_Z = 2.0  # calibrated score from which a second is tagged with an entity
ENTITY_FILE = Path("annotations") / "entities.txt"  # optional user list in the dataset folder
BLOCK_ROWS = 65_536


@dataclass
class TagsSummary:
    root: Path
    n_entities: int
    n_seconds: int
    computed: bool

    def __str__(self) -> str:
        what = "computed" if self.computed else "up to date"
        return (
            f"tags {what}: {self.n_entities} entities over {self.n_seconds} seconds -> {self.root}"
        )


def tags_dir(ws) -> Path:
    return ws.root / TAGS_DIR


def compute_tags(
    ws,
    *,
    entities_file: str | Path | None = None,
    mine: bool = True,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> TagsSummary:
    """Bring the search index up to date, build the vocabulary and store calibrated tags.

    `entities_file`: a user list (default `DATASET/annotations/entities.txt` when it exists);
    `mine=False` keeps only the user's entities."""
    from aligner import search, vocabulary
    from aligner.store import Store

    with Store(ws.db_path, read_only=True) as store:
        summary = search.build_index(ws, checkpoint=checkpoint, store=store, progress=progress)
        transcripts = [(s.video_id, s.text) for s in store.sentences()]
    user = vocabulary.read_entity_list(entities_file) if entities_file else _default_user(ws)
    entities = vocabulary.build_vocabulary(transcripts, user, mine=mine)
    if not entities:
        raise AlignerError(f"{ws.dataset}: no entities (no user list and no noun phrase said in"
                           f" {vocabulary.MIN_VIDEOS} videos)")  # fmt: skip
    index = search.open_index(summary.root)
    root = tags_dir(ws)
    old = _read_manifest(root)
    if (
        old
        and old["index"] == index.manifest["key"]
        and old["entities"] == entities
        and (old["index_shards"] == len(index.manifest["shards"]))
    ):
        return TagsSummary(root, len(entities), index.n_vectors, computed=False)
    prompts = _prompt_embeddings(ws, index, entities)
    manifest = _write_scores(root, index, entities, prompts)
    return TagsSummary(root, len(manifest["entities"]), index.n_vectors, computed=True)


def _default_user(ws) -> list[str]:
    from aligner import vocabulary

    path = ws.dataset / ENTITY_FILE
    return vocabulary.read_entity_list(path) if path.is_file() else []


def _prompt_embeddings(ws, index, entities: list[str]) -> np.ndarray:
    from aligner import features, search, vocabulary

    model = search.load_model(Path(index.manifest["checkpoint"]))
    vectors = features.load_text_features(ws, [vocabulary.prompt(e) for e in entities],
                                          model.spec.text)  # fmt: skip
    return search.text_embeddings(model, vectors)  # (E, d)


def _write_scores(root: Path, index, entities: list[str], prompts: np.ndarray) -> dict:
    """Raw cosines per index shard, then per-entity mean/std over the valid seconds."""
    total = np.zeros(len(entities))
    total_sq = np.zeros(len(entities))
    count = 0
    files = []
    for n, (first, arr) in enumerate(index.shards()):
        scores = np.concatenate([
            np.asarray(arr[b : b + BLOCK_ROWS], np.float32) @ prompts.T
            for b in range(0, len(arr), BLOCK_ROWS)
        ]) if len(arr) else np.zeros((0, len(entities)), np.float32)  # fmt: skip
        valid = index.row_video[first : first + len(arr)] >= 0
        total += scores[valid].sum(0)
        total_sq += (scores[valid].astype(np.float64) ** 2).sum(0)
        count += int(valid.sum())
        name = f"scores-{n:05d}.npy"
        atomic_save_npy(root / name, scores.astype(np.float16))
        files.append(name)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 1e-12))
    manifest = {
        "index": index.manifest["key"], "index_root": str(index.root),
        "index_shards": len(index.manifest["shards"]), "entities": entities,
        "mean": mean.round(6).tolist(), "std": std.round(6).tolist(), "shards": files,
        "tag_z": TAG_Z,
    }  # fmt: skip
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def _read_manifest(root: Path) -> dict | None:
    path = root / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# -- reading tags ------------------------------------------------------------------------------
@dataclass
class TagSet:
    """Stored tags, loaded once: `scores(video_id)` gives the calibrated `(T, E)` scores."""

    entities: list[str]
    mean: np.ndarray
    std: np.ndarray
    index: object  # search.SearchIndex
    root: Path

    def scores(self, video_id: str) -> np.ndarray:
        """`(T, E)` float32 calibrated scores (z) of one video's seconds."""
        if video_id not in self.index.manifest["videos"]:
            raise AlignerError(f"{video_id}: no tags (not in the search index; run `aligner tags`)")
        entry = self.index.manifest["videos"][video_id]
        arr = np.load(self.root / f"scores-{entry['shard']:05d}.npy", mmap_mode="r")
        raw = np.asarray(arr[entry["row"] : entry["row"] + entry["seconds"]], np.float32)
        return (raw - self.mean) / self.std

    def entity_column(self, entity: str) -> int:
        key = " ".join(entity.lower().split())
        if key not in self.entities:
            raise AlignerError(f"{entity!r}: not a tag entity (known: {', '.join(self.entities[:12])}"
                               f"{', ...' if len(self.entities) > 12 else ''})")  # fmt: skip
        return self.entities.index(key)


def load_tags(ws) -> TagSet:
    """The workspace's stored tags (`aligner tags DATASET` computes them)."""
    from aligner.search import open_index

    root = tags_dir(ws)
    manifest = _read_manifest(root)
    if manifest is None:
        raise AlignerError(f"{root}: no tags yet (run `aligner tags DATASET`)")
    index = open_index(Path(manifest["index_root"]))
    return TagSet(manifest["entities"], np.asarray(manifest["mean"], np.float32),
                  np.asarray(manifest["std"], np.float32), index, root)  # fmt: skip


def tags_for_video(ws, video_id: str) -> tuple[list[str], np.ndarray]:
    """`(entities, (T, E) float32 calibrated scores)` of one video: second t's score for entity
    e is a z-score over the dataset's seconds; >= `TAG_Z` means tagged. For the review timeline."""
    tags = load_tags(ws)
    return tags.entities, tags.scores(video_id)


def top_tags(entities: Sequence[str], scores: np.ndarray, *, k: int = 3,
             min_z: float = TAG_Z) -> list[list[tuple[str, float]]]:  # fmt: skip
    """Per second, up to `k` `(entity, z)` with z >= `min_z`, best first."""
    out = []
    for row in scores:
        best = np.argsort(-row)[:k]
        out.append([(entities[e], float(row[e])) for e in best if row[e] >= min_z])
    return out


def best_tag_per_second(ws, video_id: str) -> list[str | None]:
    """Per second of the video, its best entity when that one reaches `TAG_Z`, else None (the
    review timeline's tags lane)."""
    entities, scores = tags_for_video(ws, video_id)
    return [best[0][0] if best else None for best in top_tags(entities, scores, k=1)]


def window_filter(ws, entity: str, *, min_z: float = TAG_Z) -> Callable[[str, float, float], bool]:
    """`keep(video_id, start, end)`: True when a second of [start, end) is tagged `entity`.

    What the export's `--tag` and the queue filter use; tags of each video are read once."""
    tags = load_tags(ws)
    column = tags.entity_column(entity)
    cache: dict[str, np.ndarray] = {}

    def keep(video_id: str, start: float | None, end: float | None) -> bool:
        if start is None or end is None or video_id not in tags.index.manifest["videos"]:
            return False
        if video_id not in cache:
            cache[video_id] = tags.scores(video_id)[:, column] >= min_z
        tagged = cache[video_id]
        a, b = max(0, int(np.floor(start))), min(len(tagged), max(int(np.ceil(end)), 1))
        return bool(tagged[a:b].any())

    return keep


def tagged_queue(ws, store, entity: str, run_id: str | None, *, limit: int = 50,
                 min_z: float = TAG_Z) -> list[dict]:  # fmt: skip
    """The review queue (`Store.review_queue` order) restricted to sentences whose window
    (predicted when there is one, else the ASR span) shows `entity`."""
    keep = window_filter(ws, entity, min_z=min_z)
    rows = store.review_queue(run_id, limit=store.sentence_count())
    out = [r for r in rows if keep(r["video_id"], *_window(r))]
    return out[:limit]


def _window(row: dict) -> tuple[float, float]:
    if row.get("pred_start") is not None and row.get("pred_end") is not None:
        return row["pred_start"], row["pred_end"]
    return row["asr_start"], row["asr_end"]
