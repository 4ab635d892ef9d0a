"""`aligner scale`, `aligner scale-train`, `aligner import-predictions`: the Ray commands
(extra `scale`), registered by `aligner.cli`. Thin: they parse and call `aligner.pipelines`."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = "scale"  # under the workspace: DATASET/.aligner/scale/


def add_commands(sub, dataset_command) -> None:
    _add_scale(dataset_command(sub, "scale", "features + predictions on Ray, as Parquet shards"))
    _add_train(dataset_command(sub, "scale-train", "train TAN with DDP on Ray from shards"))
    p = dataset_command(sub, "import-predictions", "load prediction shards into the store")
    p.add_argument("--shards", default=None, metavar="DIR", help=_OUT_HELP)
    p.add_argument("--no-similarity", action="store_true",
                   help="skip writing the K x T similarity files the review app shows")  # fmt: skip
    p.set_defaults(run=_run_import)


_OUT_HELP = "shard folder (default WORKSPACE/scale; on a cluster: storage every node can reach)"


def _ray_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", default=None, metavar="ADDRESS", nargs="?", const="auto",
                   help="Ray cluster address (bare --ray: 'auto', the cluster this machine"
                        " joined); default: a local Ray instance on this machine")  # fmt: skip
    p.add_argument("--out", default=None, metavar="DIR", help=_OUT_HELP)


def _add_scale(p: argparse.ArgumentParser) -> None:
    _ray_options(p)
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="TAN checkpoint (default WORKSPACE/checkpoints/tan.pt when it exists;"
                        " none: features only)")  # fmt: skip
    p.add_argument("--video-list", default=None, metavar="FILE",
                   help="HowTo100M video ids (one per line or CSV with video_id) with captions"
                        " in DATASET/caption.json; needs --visual precomputed:NAME")  # fmt: skip
    p.add_argument("--visual", nargs="+", default=None, metavar="NAME", help="visual backbones")
    p.add_argument("--text", default=None, metavar="NAME", help="text encoder (default minilm)")
    p.add_argument("--decoders", type=int, default=2, metavar="N", help="decode actors (CPU)")
    p.add_argument("--embedders", type=int, default=1, metavar="N", help="embed actors")
    p.add_argument("--predictors", type=int, default=1, metavar="N", help="TAN actors")
    p.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="C")
    p.add_argument("--gpus-per-embedder", type=float, default=0.0, metavar="G",
                   help="GPUs per embed actor (1 on GPU nodes)")  # fmt: skip
    p.add_argument("--videos-per-shard", type=int, default=64, metavar="N")
    p.add_argument("--import", dest="do_import", action="store_true",
                   help="then load the predictions into the store (aligner import-predictions)")  # fmt: skip
    p.set_defaults(run=_run_scale)


def _add_train(p: argparse.ArgumentParser) -> None:
    _ray_options(p)
    p.add_argument("--workers", type=int, default=2, metavar="N", help="DDP workers")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C")
    p.add_argument("--steps", type=int, default=300, metavar="N",
                   help="optimiser steps in all: a third on the ASR targets, two thirds "
                        "co-training (as local training splits its epochs)")  # fmt: skip
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="checkpoint to write (default WORKSPACE/checkpoints/tan.pt)")  # fmt: skip
    p.set_defaults(run=_run_train)


def _out(ws, args) -> Path:
    given = getattr(args, "out", None) or getattr(args, "shards", None)
    return Path(given) if given else ws.root / DEFAULT_OUT


def _workspace(args):
    from aligner.workspace import open_workspace

    return open_workspace(args.dataset, args.db)


def _run_scale(args) -> int:
    from aligner.pipelines.cluster import ray_session
    from aligner.pipelines.infer import Resources, run_pipeline

    ws = _workspace(args)
    manifest, visual, text = _manifest(ws, args)
    checkpoint = _checkpoint(ws, args.checkpoint)
    res = Resources(args.decoders, args.embedders, args.predictors, args.cpus_per_actor,
                    args.gpus_per_embedder)  # fmt: skip
    with ray_session(args.ray):
        summary = run_pipeline(
            manifest, _out(ws, args), checkpoint=checkpoint, visual=visual, text=text,
            dataset=ws.dataset, resources=res, videos_per_shard=args.videos_per_shard,
        )  # fmt: skip
    print(summary)
    if checkpoint is None:
        print("scale: no checkpoint: features only (train with `aligner scale-train`)")
    elif args.do_import:
        from aligner.shards import import_predictions

        print(import_predictions(ws, _out(ws, args)))
    return 0


def _manifest(ws, args):
    from aligner.features.text import DEFAULT_TEXT
    from aligner.features.visual import DEFAULT_VISUAL
    from aligner.manifest import howto100m_manifest, store_manifest

    visual, text = list(args.visual or [DEFAULT_VISUAL]), args.text or DEFAULT_TEXT
    if args.video_list:
        from aligner.errors import AlignerError

        if not visual[0].startswith("precomputed:"):
            raise AlignerError("--video-list needs --visual precomputed:NAME (features shipped)")
        return (
            howto100m_manifest(Path(args.video_list), ws.dataset, features=visual[0]),
            visual,
            text,
        )
    if not ws.db_path.exists():
        from aligner.ingest import ingest_dataset

        print(ingest_dataset(ws, asr=False))  # a bare folder: ingest its subtitles first
    return store_manifest(ws), visual, text


def _checkpoint(ws, given: str | None) -> str | None:
    from aligner.errors import AlignerError
    from aligner.tan.checkpoints import default_checkpoint

    if given:
        if not Path(given).is_file():
            raise AlignerError(f"{given}: checkpoint not found")
        return str(Path(given).resolve())
    default = default_checkpoint(ws)
    return str(default) if default.is_file() else None


def _run_train(args) -> int:
    from aligner.pipelines.cluster import ray_session
    from aligner.pipelines.train import train_on_shards
    from aligner.store import Store
    from aligner.tan.checkpoints import default_checkpoint
    from aligner.tan.train import _labels_by_sentence

    ws = _workspace(args)
    labels = {}
    if ws.db_path.exists():
        with Store(ws.db_path, read_only=True) as store:
            labels = _labels_by_sentence(store)
    with ray_session(args.ray):
        summary = train_on_shards(
            _out(ws, args), args.checkpoint or default_checkpoint(ws), workers=args.workers,
            use_gpu=args.gpu, cpus_per_worker=args.cpus_per_worker, steps=args.steps,
            labels=labels, storage=ws.subdir("ray-train"),
        )  # fmt: skip
    print(summary)
    return 0


def _run_import(args) -> int:
    from aligner.shards import import_predictions

    ws = _workspace(args)
    print(import_predictions(ws, _out(ws, args), similarity=not args.no_similarity))
    return 0
