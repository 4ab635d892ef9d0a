"""`aligner ...` commands: a thin argparse layer over the library.

Each command has one `_add_<name>` function (its arguments) and one `_run_<name>` (the call).
Heavy imports happen inside `_run_*` so `aligner --help` stays fast. Any `AlignerError` is
printed as one line and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from aligner.errors import AlignerError


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except AlignerError as err:
        print(f"aligner {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"aligner {args.command}: interrupted; re-run to resume", file=sys.stderr)
        return 130


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aligner",
        description="Find when the narration of instructional videos is actually shown.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_ingest, _add_features, _add_train, _add_predict, _add_auto_align,
                _add_evaluate, _add_export, _add_review):  # fmt: skip
        add(sub)
    return parser


def _dataset_command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("dataset", metavar="DATASET", help="HowTo100M-style dataset folder")
    p.add_argument(
        "--db", metavar="PATH", help="DuckDB file (default DATASET/.aligner/aligner.duckdb)"
    )
    return p


def _workspace(args):
    from aligner.workspace import open_workspace

    return open_workspace(args.dataset, args.db)


# -- ingest ------------------------------------------------------------------------------------
def _add_ingest(sub) -> None:
    p = _dataset_command(
        sub, "ingest", "discover videos and subtitles, merge sentences, store them"
    )
    p.add_argument("--asr", action=argparse.BooleanOptionalAction, default=False,
                   help="transcribe videos without subtitles with Whisper (default: off)")  # fmt: skip
    p.set_defaults(run=_run_ingest)


def _run_ingest(args) -> int:
    from aligner.ingest import ingest_dataset

    summary = ingest_dataset(_workspace(args), asr=args.asr)
    print(summary)
    return 0


# -- features ----------------------------------------------------------------------------------
def _add_features(sub) -> None:
    p = _dataset_command(sub, "features", "compute per-second video features and sentence vectors")
    p.add_argument("--visual", nargs="+", default=None, metavar="NAME",
                   help="visual backbones: builtin, precomputed:<name>, a HF model name or dir")  # fmt: skip
    p.add_argument("--text", default=None, metavar="NAME", help="text encoder name or directory")
    p.set_defaults(run=_run_features)


def _run_features(args) -> int:
    from aligner.features import compute_features

    print(compute_features(_workspace(args), visual=args.visual, text=args.text))
    return 0


# -- train -------------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = _dataset_command(sub, "train", "train TAN on the ASR timestamps and the human labels")
    p.add_argument("--epochs", type=int, default=None, metavar="N")
    p.add_argument("--out", default=None, metavar="CKPT", help="checkpoint path to write")
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from aligner.train import train_dataset

    print(train_dataset(_workspace(args), epochs=args.epochs, out=args.out))
    return 0


# -- predict -----------------------------------------------------------------------------------
def _add_predict(sub) -> None:
    p = _dataset_command(sub, "predict", "predict alignability and visual start/end per sentence")
    p.add_argument("--checkpoint", default=None, metavar="CKPT")
    p.set_defaults(run=_run_predict)


def _run_predict(args) -> int:
    from aligner.infer import predict_dataset

    print(predict_dataset(_workspace(args), checkpoint=args.checkpoint))
    return 0


# -- auto-align --------------------------------------------------------------------------------
def _add_auto_align(sub) -> None:
    p = _dataset_command(
        sub, "auto-align", "ingest + features + train (if no checkpoint) + predict"
    )
    p.add_argument("--checkpoint", default=None, metavar="CKPT")
    p.add_argument("--asr", action=argparse.BooleanOptionalAction, default=True,
                   help="transcribe videos without subtitles with Whisper (default: on)")  # fmt: skip
    p.set_defaults(run=_run_auto_align)


def _run_auto_align(args) -> int:
    from aligner.pipeline import auto_align

    print(auto_align(_workspace(args), checkpoint=args.checkpoint, asr=args.asr))
    return 0


# -- evaluate ----------------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = _dataset_command(sub, "evaluate", "R@1 and ROC-AUC of stored predictions (+ baselines)")
    p.add_argument("--ground-truth", default=None, metavar="FILE",
                   help="HTM-Align JSON, or 'labels' for the curators' labels"
                        " (default DATASET/annotations/htm_align.json)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from aligner.evaluate import evaluate_dataset, format_report

    report = evaluate_dataset(_workspace(args), ground_truth=args.ground_truth)
    if args.json:
        import json

        print(json.dumps(report, sort_keys=True))
    else:
        print(format_report(report))
    return 0


# -- export ------------------------------------------------------------------------------------
EXPORT_FORMATS = ("howto100m", "jsonl", "parquet", "csv", "htm-align", "vtt", "srt")


def _add_export(sub) -> None:
    p = _dataset_command(sub, "export", "write the cleaned dataset")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, metavar="PATH")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from aligner.export import export_dataset

    print(export_dataset(_workspace(args), fmt=args.format, out=args.out))
    return 0


# -- review ------------------------------------------------------------------------------------
def _add_review(sub) -> None:
    p = _dataset_command(sub, "review", "start the Streamlit review app on this dataset")
    p.add_argument("--port", type=int, default=None, help="port (default: Streamlit's own setting)")
    p.set_defaults(run=_run_review)


def _run_review(args) -> int:
    from aligner.review_launcher import launch_review

    return launch_review(_workspace(args), port=args.port)
