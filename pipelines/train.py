"""Training at scale: Ray Train's `TorchTrainer` runs the local training step (the same
`stage1_loss` / `stage2_loss`, EMA teacher, AdamW, clipping) with DDP on N workers, each
streaming its share of the videos from the feature shards (`aligner.shards`) a row group at a
time. Rank 0 writes the checkpoint with `save_checkpoint`, so it is the same file local training
writes (and its `.stage1.pt` sibling).

Every rank must take the same number of optimiser steps (DDP averages gradients at each one), so
the driver fixes the steps per stage from the shards' row counts; a worker whose share runs out
starts its stream again.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from aligner import shards
from aligner.errors import AlignerError

DEFAULT_STEPS = 300  # optimiser steps in all, split between the stages as local training splits
# its epochs (`TrainConfig.with_epochs`: a third on the ASR targets, two thirds co-training)


@dataclass
class ScaleTrainSummary:
    checkpoint: Path
    workers: int
    videos: int
    steps: int
    seconds: float
    final_loss: float
    replicas_agree: bool  # every DDP worker ended with the same weights

    def __str__(self) -> str:
        return (
            f"trained TAN with DDP on {self.workers} Ray workers: {self.videos} videos from shards,"
            f" {self.steps} steps in {self.seconds:.0f} s (last loss {self.final_loss:.3f})"
            f" -> {self.checkpoint}"
        )


def train_on_shards(
    out: str | Path,
    checkpoint: str | Path,
    *,
    workers: int = 2,
    use_gpu: bool = False,
    cpus_per_worker: float = 1.0,
    steps: int = DEFAULT_STEPS,
    labels: dict[int, dict] | None = None,
    config=None,
    train_config=None,
    seed: int = 0,
    storage: str | Path | None = None,
) -> ScaleTrainSummary:
    """Train on every finished feature shard under `out` with `workers` DDP workers for `steps`
    optimiser steps in all (`stage_steps`); writes `checkpoint` (+ its stage-1 sibling).
    `labels`: sentence_id -> curator label row (as `aligner.tan.train` reads them from the
    store). Needs a connected Ray instance."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from aligner.tan.config import TANConfig, TrainConfig

    files = [str(p.resolve()) for p in shards.shard_files(out, "features")]
    n_videos = _count_rows(files)
    if n_videos == 0:
        raise AlignerError(f"{out}: no finished feature shards (run `aligner scale` first)")
    tcfg = train_config or TrainConfig()
    # one model across the workers: an ensemble's members each train alone (`aligner train`);
    # trained as one DDP module they would learn only their average
    model_cfg = replace(config or TANConfig(), members=1)
    loop_config = {
        "files": files, "spec": _spec(out, files).to_dict(), "seed": seed,
        "config": asdict(model_cfg), "train": asdict(tcfg), "labels": labels or {},
        "steps": list(stage_steps(int(steps), tcfg)),
    }  # fmt: skip
    started = time.perf_counter()
    storage = Path(storage or tempfile.mkdtemp(prefix="aligner-ray-train-"))
    trainer = TorchTrainer(
        _train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(storage_path=str(storage.resolve()), name="tan"),
    )  # fmt: skip
    result = trainer.fit()
    target = Path(checkpoint)
    with result.checkpoint.as_directory() as folder:
        for name in ("tan.pt", "tan.stage1.pt"):
            dest = target if name == "tan.pt" else target.with_name(target.stem + ".stage1.pt")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(folder) / name, dest)
    return ScaleTrainSummary(target, workers, n_videos, sum(loop_config["steps"]),
                             time.perf_counter() - started, float(result.metrics["loss"]),
                             bool(result.metrics["replicas_agree"]))  # fmt: skip


def stage_steps(total: int, cfg) -> tuple[int, int]:
    """`total` optimiser steps split between the stages as `cfg` splits its epochs (at least 1
    each)."""
    split = cfg.with_epochs(max(2, total))
    return split.stage1_epochs, split.stage2_epochs


def _count_rows(files: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _spec(out, files: list[str]):
    """The FeatureSpec of the shards: backbone names from a status file, dims from the data."""
    import pyarrow.parquet as pq

    from aligner.tan.config import FeatureSpec

    meta = shards.shard_status(out, shards.finished_shards(out)[0]) or {}
    row = next(r for f in files for r in pq.read_table(f).slice(0, 1).to_pylist())
    return FeatureSpec(tuple(meta["visual"]), tuple(row["visual_dims"]), str(meta["text"]),
                       int(row["text_dim"]))  # fmt: skip


# -- on each worker ----------------------------------------------------------------------------
class _Forward:
    """The DDP wrapper for the forward pass (so gradients are averaged), the plain module for
    everything else the losses ask of the model (`similarities`, `cfg`)."""

    def __init__(self, ddp):
        self.ddp, self.module = ddp, getattr(ddp, "module", ddp)

    def __call__(self, *args, **kwargs):
        return self.ddp(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)


def _train_loop(loop: dict) -> None:
    import copy

    import ray.train
    import ray.train.torch
    import torch

    from aligner.tan.checkpoints import save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig, TrainConfig
    from aligner.tan.infer import build_look_bank
    from aligner.tan.model import build_model
    from aligner.tan.sentence_bank import sample_bank
    from aligner.tan.train import train_step

    torch.set_num_threads(1)  # see aligner.pipeline.TORCH_THREADS: small model, shared cores
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    tcfg, spec = TrainConfig(**loop["train"]), FeatureSpec.from_dict(loop["spec"])
    torch.manual_seed(loop["seed"])  # the same initial weights everywhere (DDP also broadcasts)
    module = build_model(TANConfig.from_dict(loop["config"]), spec)
    ddp = ray.train.torch.prepare_model(
        module, parallel_strategy_kwargs={"find_unused_parameters": True}
    )
    model, module = _Forward(ddp), getattr(ddp, "module", ddp)
    opt = torch.optim.AdamW(module.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    rng = np.random.default_rng(loop["seed"] + rank)
    batches = _batches(loop["files"], rank, world, tcfg, loop["labels"], rng)
    loss, teacher, stage1 = float("nan"), None, None
    for stage, n_steps in enumerate(loop["steps"], start=1):
        if stage == 2:
            stage1 = {k: v.detach().clone() for k, v in module.state_dict().items()}
            teacher = copy.deepcopy(module).eval().requires_grad_(False)
        module.train()
        for _ in range(n_steps):  # the local step: the DDP forward, the module's parameters
            loss = train_step(model, teacher, next(batches), tcfg, opt)
    module.eval()
    metrics = {"loss": loss, "replicas_agree": _replicas_agree(module)}
    if rank == 0:  # as local training: the sentence bank of every video, then the look bank
        texts = shards.iter_sentence_vectors(loop["files"])
        module.sentence_bank = sample_bank(texts, loop["seed"])
        module.look_bank = build_look_bank(module, _look_bank_videos(loop["files"]), loop["seed"])
    _report(module, stage1, metrics, rank, save_checkpoint)


def _look_bank_videos(files: list[str]) -> Iterator[tuple]:
    """The first videos of the shards, until `SENTENCES_EXAMINED` sentences (local training
    takes a random sample of that many; a stream has no cheap random access), as
    `build_look_bank` takes them."""
    from aligner.tan.look_bank import SENTENCES_EXAMINED

    seen = 0
    for video in shards.iter_feature_videos(files):
        if seen >= SENTENCES_EXAMINED:
            return
        seen += len(video["start"])
        yield video["video_id"], video["visual"], video["text"], video["start"], video["end"]


def _replicas_agree(module) -> bool:
    """Whether every worker ended with the same weights (what DDP promises): each rank's sum of
    all parameters, gathered and compared."""
    import torch
    import torch.distributed as dist

    total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum()
    if not dist.is_initialized():
        return True
    gathered = [torch.zeros_like(total) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, total)
    return all(torch.allclose(g, gathered[0], rtol=1e-9, atol=0) for g in gathered)


def _report(module, stage1_state, metrics: dict, rank: int, save_checkpoint) -> None:
    """Every rank reports (Ray Train's report is collective); rank 0 attaches the checkpoint."""
    import copy

    import ray.train

    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(module, Path(folder) / "tan.pt", extra={"stage": 2, "trainer": "ray"})
        twin = copy.deepcopy(module)
        twin.load_state_dict(stage1_state or module.state_dict())
        save_checkpoint(twin, Path(folder) / "tan.stage1.pt", extra={"stage": 1, "trainer": "ray"})
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def _batches(files, rank: int, world: int, cfg, labels: dict, rng) -> Iterator:
    """Endless batches of random windows, `cfg.batch_videos` videos each, from this worker's
    share of the streamed shards (started again when it runs out)."""
    from aligner.tan.batching import _random_window, collate

    while True:
        buffer = []
        for video in shards.iter_feature_videos(files, rank=rank, world=world):
            buffer.append(_item(video, labels))
            if len(buffer) == cfg.batch_videos:
                yield collate([_random_window(it, cfg, rng) for it in buffer])
                buffer = []
        if buffer:
            yield collate([_random_window(it, cfg, rng) for it in buffer])


def _item(video: dict, labels: dict):
    from aligner.tan.batching import VideoItem

    ids = video["sentence_ids"] or [None] * len(video["start"])
    rows = [labels.get(i) or {} for i in ids]

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if r.get(name) is None else float(r[name]) for r in rows])

    return VideoItem(
        video_id=video["video_id"], video=[np.array(v) for v in video["visual"]],
        text=np.array(video["text"]), start=video["start"], end=video["end"],
        label_alignable=column("alignable"), label_start=column("start"),
        label_end=column("end"), sentence_ids=ids,
    )  # fmt: skip
