"""Feature-level toy videos with ground truth, for tests and speed benchmarks."""

from __future__ import annotations

import numpy as np

from aligner.tan.batching import VideoItem

TOY_CONCEPT_SEED = 1234  # the concepts are shared by every toy dataset, whatever its seed


def toy_items(
    n_videos: int,
    *,
    seed: int = 0,
    visual_dim: int = 48,
    text_dim: int = 32,
    n_concepts: int = 19,
    duration: tuple[int, int] = (60, 120),
    far_share: float = 0.15,
    noise: float = 0.5,
) -> tuple[list[VideoItem], dict[str, list[list]]]:
    """Videos as features only, with the sample generator's statistics: steps of 4-12 s showing
    one of `n_concepts` concepts (a visual and a text prototype each), talking head between
    them; a step is narrated with its ASR start ~ N(0, 4 s) from the step start, `far_share` of
    them 15-40 s away; a third of the sentences is chatter said over the talking head.
    Returns the items and HTM-Align ground truth `{video_id: [[alignable, start, end, text]]}`."""
    protos = np.random.default_rng(TOY_CONCEPT_SEED)
    vis = protos.normal(size=(n_concepts + 1, visual_dim))  # last row: talking head
    txt = protos.normal(size=(n_concepts + 4, text_dim))  # last 4 rows: chatter lines
    rng = np.random.default_rng(seed)
    items, truth = [], {}
    for i in range(n_videos):
        t = int(rng.integers(*duration))
        frames = np.tile(vis[-1], (t, 1))
        said = []  # (topic, asr start, shown start, shown end, alignable)
        cursor = float(rng.uniform(5, 9))
        while cursor + 12 < t - 5:
            c, a = int(rng.integers(n_concepts)), cursor
            b = a + float(rng.uniform(4, 12))
            frames[int(a) : int(b)] = vis[c]
            far = rng.random() < far_share
            shift = rng.uniform(15, 40) * rng.choice([-1, 1]) if far else rng.normal(0, 4)
            if rng.random() > 0.15:
                said.append((c, float(np.clip(a + shift, 0, t - 4)), a, b, 1))
            gap = float(rng.uniform(3, 8))
            if rng.random() < 0.6:
                said.append(
                    (n_concepts + int(rng.integers(4)), b + rng.uniform(0, gap - 2), 0, 0, 0)
                )
            cursor = b + gap
        said.sort(key=lambda s: s[1])
        topics = np.array([s[0] for s in said], dtype=int)
        text = txt[topics] + noise * rng.normal(size=(len(said), text_dim))
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        video = frames + noise * rng.normal(size=frames.shape)
        start = np.array([s[1] for s in said])
        vid = f"toy{seed}_{i:03d}"
        items.append(VideoItem(vid, [video.astype(np.float32)], text.astype(np.float32),
                               start, start + 3.0))  # fmt: skip
        truth[vid] = [
            [s[4], s[2] if s[4] else s[1], s[3] if s[4] else s[1] + 3.0, f"{vid} sentence {j}"]
            for j, s in enumerate(said)
        ]
    return items, truth


def store_toy_items(store, items, truth: dict[str, list[list]]) -> None:
    """Store each toy item as an ok video with its ground-truth texts as the ASR sentences."""
    for it in items:
        store.upsert_video(it.video_id, path=f"videos/{it.video_id}.mp4", status="ok",
                           duration=float(it.duration))  # fmt: skip
        texts = [row[3] for row in truth[it.video_id]]
        store.replace_sentences(it.video_id, list(zip(it.start, it.end, texts, strict=True)))
