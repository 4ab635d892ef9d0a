"""The batch pipeline on Ray Data: decode -> embed -> TAN predict -> Parquet shards.

    manifest rows ─▶ decode (CPU actors) ─▶ embed (GPU actors: visual backbone + text encoder,
    loaded once per actor) ─▶ predict (actors holding the TAN checkpoint) ─▶ group by shard ─▶
    <shard>.{predictions,similarity,features}.parquet + <shard>.status.json

Each stage is one `map_batches` over an actor pool whose actor calls the Ray-free function of
`aligner.stages` on each video; the Ray layer only moves rows and asks for resources. A row is
`{"shard", "video"}` with the video dict pickled, so every stage sees the same two columns
whatever the arrays inside look like. Shards already finished are skipped before anything
starts (`aligner.shards.needs_run`); a shard whose videos failed is re-run on the next call
until it has had `MAX_ATTEMPTS` tries.
"""

from __future__ import annotations

import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aligner import shards, stages

TORCH_THREADS = 1  # per actor: actors run side by side, each on its own core(s)


@dataclass(frozen=True)
class Resources:
    """Actors per stage and what each asks of Ray (fractions are fine: tests use 0.5 CPU)."""

    decoders: int = 2
    embedders: int = 1
    predictors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_embedder: float = 0.0  # 1 on a GPU node: the embed stage then runs on the GPU


@dataclass
class PipelineSummary:
    out: Path
    shards: int = 0
    run: int = 0  # shards processed now
    skipped: int = 0  # finished before: not touched
    videos: int = 0  # processed now
    video_seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # "video_id: error", processed now
    seconds: float = 0.0

    @property
    def realtime(self) -> float:
        return self.video_seconds / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        failed = f"; {len(self.failed)} failed, first: {self.failed[0]}" if self.failed else ""
        return (
            f"scale: {self.run} shard(s) run, {self.skipped} already finished (of {self.shards});"
            f" {self.videos} videos ({self.video_seconds / 60:.1f} min) in {self.seconds:.1f} s"
            f" = {self.realtime:.1f}x realtime -> {self.out}{failed}"
        )


# -- actors ------------------------------------------------------------------------------------
def _videos(batch) -> list[dict]:
    return [pickle.loads(blob) for blob in batch["video"]]


def _rows(videos: list[dict]) -> dict[str, list]:
    return {"shard": [v["shard"] for v in videos],
            "video": [pickle.dumps(v, protocol=5) for v in videos]}  # fmt: skip


class _Decoder:
    def __init__(self, visual: list[str], dataset: str | None):
        from aligner.features.visual import get_visual_backbone

        self.dataset = Path(dataset) if dataset else None
        self.backbones = [get_visual_backbone(n, dataset=self.dataset) for n in visual]

    def __call__(self, batch):
        return _rows([stages.decode(v, self.backbones, self.dataset) for v in _videos(batch)])


class _Embedder:
    def __init__(self, visual: list[str], text: str, dataset: str | None):
        import torch

        from aligner.features.text import get_text_encoder
        from aligner.features.visual import get_visual_backbone

        torch.set_num_threads(TORCH_THREADS)
        self.dataset = Path(dataset) if dataset else None
        self.backbones = [get_visual_backbone(n, dataset=self.dataset) for n in visual]
        self.encoder = get_text_encoder(text)
        self.encoder.loaded()  # the model loads once per actor, here

    def __call__(self, batch):
        out = [stages.embed(v, self.backbones, self.encoder, self.dataset) for v in _videos(batch)]
        return _rows(out)


class _Predictor:
    def __init__(self, checkpoint: str, mode: str):
        import torch

        from aligner.tan.checkpoints import load_checkpoint

        torch.set_num_threads(TORCH_THREADS)
        self.model, self.mode = load_checkpoint(checkpoint)[0], mode

    def __call__(self, batch):
        return _rows([stages.predict(v, self.model, mode=self.mode) for v in _videos(batch)])


def _write_group(batch, out: str, meta: dict):
    """All videos of one shard (Ray's groupby hands them over together) -> its files."""
    videos = _videos(batch)
    shard = videos[0]["shard"]
    result = shards.write_shard(Path(out), shard, videos, attempts=videos[0]["attempt"], meta=meta)
    return {"shard": [shard], "ok": [result.ok],
            "failed": [pickle.dumps(result.failed)]}  # fmt: skip


# -- the pipeline ------------------------------------------------------------------------------
def run_pipeline(
    manifest: list[dict],
    out: str | Path,
    *,
    checkpoint: str | Path | None,
    visual: list[str],
    text: str,
    dataset: str | Path | None = None,
    mode: str = "window",
    resources: Resources | None = None,
    videos_per_shard: int = shards.VIDEOS_PER_SHARD,
    max_attempts: int = shards.MAX_ATTEMPTS,
) -> PipelineSummary:
    """Run the pending shards of `manifest` into `out` on the Ray instance this process is
    connected to (see `pipelines.cluster.ray_session`). Without `checkpoint`, features only
    (the predictions / similarity files are empty): what `pipelines.train` reads."""
    import ray

    started, res = time.perf_counter(), resources or Resources()
    out = shards.check_out_dir(Path(out))
    pending, summary = _plan(manifest, out, videos_per_shard, max_attempts)
    if pending:
        items = [{"shard": v["shard"], "video": pickle.dumps(v, protocol=5)} for v in pending]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = _stages(ds, res, checkpoint, visual, text, dataset, mode)
        meta = {"checkpoint": str(checkpoint) if checkpoint else None, "visual": visual,
                "text": text, "mode": mode}  # fmt: skip
        written = ds.groupby(
            "shard", num_partitions=max(1, summary.shards - summary.skipped)
        ).map_groups(
            _write_group, fn_kwargs={"out": str(out), "meta": meta}, num_cpus=res.cpus_per_actor
        )
        for row in written.iter_rows():
            summary.run += 1
            summary.failed += [f"{v}: {e}" for v, e in pickle.loads(row["failed"]).items()]
            print(f"aligner scale: {row['shard']}: {row['ok']} ok", file=sys.stderr)
        summary.videos = len(pending)
        summary.video_seconds = sum(float(v["duration"]) for v in pending)
    summary.seconds = time.perf_counter() - started
    return summary


def _plan(manifest: list[dict], out: Path, per_shard: int, max_attempts: int):
    """Videos of the shards that need a run (each tagged with its shard and attempt number)."""
    count = shards.shard_count(out, len(manifest), per_shard)
    by_shard: dict[str, list[dict]] = {}
    for video in manifest:
        by_shard.setdefault(shards.shard_name(str(video["video_id"]), count), []).append(video)
    summary = PipelineSummary(out=out, shards=len(by_shard))
    pending = []
    for shard, videos in sorted(by_shard.items()):
        if not shards.needs_run(out, shard, max_attempts):
            summary.skipped += 1
            continue
        attempt = shards.attempts_so_far(out, shard) + 1
        pending += [{**v, "shard": shard, "attempt": attempt, "error": None} for v in videos]
    return pending, summary


def _stages(ds, res: Resources, checkpoint, visual, text, dataset, mode):
    from ray.data import ActorPoolStrategy

    dataset = str(dataset) if dataset else None
    cpu = {"batch_size": 1, "num_cpus": res.cpus_per_actor}
    ds = ds.map_batches(_Decoder, fn_constructor_kwargs={"visual": visual, "dataset": dataset},
                        compute=ActorPoolStrategy(size=res.decoders), **cpu)  # fmt: skip
    ds = ds.map_batches(
        _Embedder, fn_constructor_kwargs={"visual": visual, "text": text, "dataset": dataset},
        compute=ActorPoolStrategy(size=res.embedders), num_gpus=res.gpus_per_embedder, **cpu,
    )  # fmt: skip
    if checkpoint is None:
        return ds
    return ds.map_batches(
        _Predictor, fn_constructor_kwargs={"checkpoint": str(checkpoint), "mode": mode},
        compute=ActorPoolStrategy(size=res.predictors), **cpu,
    )  # fmt: skip
