"""`aligner ...` commands: a thin argparse layer over the library.

Each command has one `_add_<name>` function (its arguments) and one `_run_<name>` (the call).
Heavy imports happen inside `_run_*` so `aligner --help` stays fast. Any `AlignerError` is
printed as one line and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from aligner.cli_scale import add_commands as add_scale_commands
from aligner.errors import AlignerError, storage_error


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
    except Exception as err:  # a full or read-only disk: one line, not a traceback
        line = storage_error(err)
        if line is None:
            raise
        print(f"aligner {args.command}: error: {line}", file=sys.stderr)
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aligner",
        description="Find when the narration of instructional videos is actually shown.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_ingest, _add_features, _add_train, _add_predict, _add_auto_align,
                _add_evaluate, _add_export, _add_review, _add_labels, _add_users, _add_search,
                _add_tags):  # fmt: skip
        add(sub)
    add_scale_commands(sub, _dataset_command)  # scale, scale-train, import-predictions (Ray)
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
    _add_sentences_as_cues(p)
    p.set_defaults(run=_run_ingest)


def _add_sentences_as_cues(p) -> None:
    p.add_argument("--sentences-as-cues", action="store_true",
                   help="each subtitle cue is one sentence (e.g. unpunctuated HTM-Align texts):"
                        " never merge cues")  # fmt: skip


def _sentencify_params(args):
    from aligner.sentencify import SentencifyParams

    return SentencifyParams(already_sentences=True if args.sentences_as_cues else None)


def _run_ingest(args) -> int:
    from aligner.ingest import ingest_dataset

    summary = ingest_dataset(_workspace(args), asr=args.asr, params=_sentencify_params(args))
    print(summary)
    return 0


# -- features ----------------------------------------------------------------------------------
def _add_features(sub) -> None:
    p = _dataset_command(sub, "features", "compute per-second video features and sentence vectors")
    p.add_argument("--visual", nargs="+", default=None, metavar="NAME",
                   help="visual backbones: builtin, precomputed:<name>, a HF model name or dir")  # fmt: skip
    p.add_argument("--text", default=None, metavar="NAME",
                   help="text encoder: minilm (default), a HF model name or dir")  # fmt: skip
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes decoding videos side by side (default: one per core for"
                        " long work without a transformers model, else 1)")  # fmt: skip
    p.set_defaults(run=_run_features)


def _run_features(args) -> int:
    from aligner.features import compute_features

    ws = _workspace(args)
    print(compute_features(ws, visual=args.visual, text=args.text, workers=args.workers))
    return 0


# -- train -------------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = _dataset_command(sub, "train", "train TAN on the ASR timestamps and the human labels")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="epochs in all, a third on the ASR times, the rest co-training"
                        " (default 12: 4 + 8)")  # fmt: skip
    p.add_argument("--out", default=None, metavar="CKPT",
                   help="checkpoint to write (default WORKSPACE/checkpoints/tan.pt)")  # fmt: skip
    p.add_argument("--visual", nargs="+", default=None, metavar="NAME",
                   help="visual feature backbones (default: builtin)")  # fmt: skip
    p.add_argument("--text", default=None, metavar="NAME", help="text encoder (default: minilm)")
    p.add_argument("--preset", default="small", metavar="NAME",
                   help="model size: small (default), base, paper")  # fmt: skip
    p.add_argument("--members", type=int, default=None, metavar="N",
                   help="models averaged (default: the preset's; small 4, paper 1)")  # fmt: skip
    p.add_argument("--margin", type=float, default=None, metavar="S",
                   help="positive window = ASR span +- S seconds (default 10)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true",
                   help="train even when the checkpoint is up to date with the same inputs")  # fmt: skip
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from dataclasses import replace

    from aligner.pipeline import TORCH_THREADS, torch_threads
    from aligner.tan.config import TANConfig, TrainConfig
    from aligner.tan.train import train_dataset

    tcfg = TrainConfig()
    if args.margin is not None:
        tcfg = replace(tcfg, pos_margin_s=args.margin)
    if args.members is not None and args.members < 1:
        raise AlignerError(f"--members must be at least 1 (got {args.members})")
    members = {} if args.members is None else {"members": args.members}
    with torch_threads(TORCH_THREADS):
        summary = train_dataset(
            _workspace(args), epochs=args.epochs, out=args.out, visual=args.visual,
            text=args.text, seed=args.seed, config=TANConfig.preset(args.preset, **members),
            train_config=tcfg, force=args.force,
        )  # fmt: skip
    print(summary)
    return 0


# -- predict -----------------------------------------------------------------------------------
def _add_predict(sub) -> None:
    p = _dataset_command(sub, "predict", "predict alignability and visual start/end per sentence")
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="default WORKSPACE/checkpoints/tan.pt")  # fmt: skip
    p.add_argument("--mode", choices=("window", "global"), default="window",
                   help="64 s windows every 16 s (default) or one pass over each video")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="predict even when the latest run is up to date with the same inputs")  # fmt: skip
    p.set_defaults(run=_run_predict)


def _run_predict(args) -> int:
    from aligner.pipeline import TORCH_THREADS, torch_threads
    from aligner.tan.infer import predict_dataset

    ws = _workspace(args)
    with torch_threads(TORCH_THREADS):
        print(predict_dataset(ws, checkpoint=args.checkpoint, mode=args.mode, force=args.force))
    return 0


# -- auto-align --------------------------------------------------------------------------------
def _add_auto_align(sub) -> None:
    p = _dataset_command(
        sub, "auto-align", "ingest + features + train (if no checkpoint) + predict"
    )
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="use this TAN checkpoint (default: train one on the folder itself)")  # fmt: skip
    p.add_argument("--asr", action=argparse.BooleanOptionalAction, default=True,
                   help="transcribe videos without subtitles with Whisper (default: on)")  # fmt: skip
    p.add_argument("--asr-model", default=None, metavar="NAME_OR_PATH",
                   help="faster-whisper model name or folder, or an openai-whisper .pt"
                        " (default: the bundled tiny.en)")  # fmt: skip
    p.add_argument("--write-subtitles", action="store_true",
                   help="also write Whisper transcripts as DATASET/subtitles/<id>.vtt")  # fmt: skip
    p.add_argument("--visual", nargs="+", default=None, metavar="NAME",
                   help="visual backbones (default: builtin)")  # fmt: skip
    p.add_argument("--text", default=None, metavar="NAME", help="text encoder (default: minilm)")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs")
    _add_sentences_as_cues(p)
    p.set_defaults(run=_run_auto_align)


def _run_auto_align(args) -> int:
    from aligner.pipeline import auto_align

    summary = auto_align(
        _workspace(args), checkpoint=args.checkpoint, asr=args.asr, asr_model=args.asr_model,
        write_subtitles=args.write_subtitles, visual=args.visual, text=args.text,
        epochs=args.epochs, sentences=_sentencify_params(args),
    )  # fmt: skip
    print(summary)
    return 0


# -- evaluate ----------------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = _dataset_command(sub, "evaluate", "R@1 and ROC-AUC of stored predictions (+ baselines)")
    p.add_argument("--ground-truth", default=None, metavar="FILE",
                   help="HTM-Align JSON, or 'labels' for the curators' labels"
                        " (default DATASET/annotations/htm_align.json)")  # fmt: skip
    p.add_argument("--run", dest="run_id", default=None, metavar="RUN_ID",
                   help="predictions to score (default: the latest tan run)")  # fmt: skip
    p.add_argument("--protocol", choices=("stored", "htm-align"), default="stored",
                   help="stored: score the stored predictions (default); htm-align: the"
                        " ground-truth sentences are the queries, scored as TAN's eval does")  # fmt: skip
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="htm-align: the model to run (default DATASET/.aligner/checkpoints/tan.pt)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from aligner.evaluate import evaluate_dataset, format_report

    if args.protocol == "htm-align":
        return _run_htm_align(args)
    report = evaluate_dataset(_workspace(args), ground_truth=args.ground_truth, run_id=args.run_id)
    if args.json:
        import json

        print(json.dumps(report, sort_keys=True))
    else:
        print(format_report(report))
    return 0


def _run_htm_align(args) -> int:
    import json

    from aligner.htm_align import format_benchmark_report, run_benchmark

    if args.run_id or args.ground_truth == "labels":
        raise AlignerError("--protocol htm-align runs the model itself: no --run, no labels")
    report = run_benchmark(_workspace(args), ground_truth=args.ground_truth,
                           checkpoint=args.checkpoint)  # fmt: skip
    print(json.dumps(report, sort_keys=True) if args.json else format_benchmark_report(report))
    return 0


# -- export ------------------------------------------------------------------------------------
def _add_export(sub) -> None:
    from aligner.export import ALL_FORMATS  # light: the writers import pyarrow only when used

    p = _dataset_command(sub, "export", "write the cleaned dataset")
    p.add_argument("--format", required=True, choices=ALL_FORMATS)
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output file (a folder for vtt / srt: one file per video; for"
                        " parquet-partitioned: part=N/ subfolders)")  # fmt: skip
    p.add_argument("--run-id", default=None, metavar="RUN_ID",
                   help="predictions of this run (default: the latest tan run)")  # fmt: skip
    p.add_argument("--min-alignability", type=float, default=None, metavar="P",
                   help="only sentences whose alignability (model or human 1/0) is >= P")  # fmt: skip
    p.add_argument("--reviewed-only", action="store_true",
                   help="only sentences a curator decided on")  # fmt: skip
    p.add_argument("--accepted-only", action="store_true",
                   help="only sentences a curator accepted or corrected")  # fmt: skip
    p.add_argument("--exclude-not-alignable", action="store_true",
                   help="drop sentences whose final answer is 'not alignable'")  # fmt: skip
    p.add_argument("--tag", default=None, metavar="ENTITY",
                   help="only sentences whose final window shows ENTITY (`aligner tags` first)")  # fmt: skip
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from aligner.export import export_dataset

    summary = export_dataset(
        _workspace(args), fmt=args.format, out=args.out, run_id=args.run_id,
        min_alignability=args.min_alignability, reviewed_only=args.reviewed_only,
        accepted_only=args.accepted_only, exclude_not_alignable=args.exclude_not_alignable,
        tag=args.tag,
    )  # fmt: skip
    print(summary)
    return 0


# -- review ------------------------------------------------------------------------------------
def _add_review(sub) -> None:
    p = _dataset_command(sub, "review", "start the Streamlit review app on this dataset")
    p.add_argument("--port", type=int, default=None, help="port (default: Streamlit's own setting)")
    p.set_defaults(run=_run_review)


def _run_review(args) -> int:
    from aligner.review_launcher import launch_review

    return launch_review(_workspace(args), port=args.port)


# -- search and tags ---------------------------------------------------------------------------
def _add_search(sub) -> None:
    p = _dataset_command(sub, "search", "find the moments of the dataset that show a text query")
    p.add_argument("query", metavar="QUERY", help='what to look for, e.g. "knead the dough"')
    p.add_argument("--top", type=int, default=10, metavar="N", help="moments listed (default 10)")
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="model (default: the latest tan run's, else WORKSPACE/checkpoints/tan.pt)")  # fmt: skip
    p.set_defaults(run=_run_search)


def _run_search(args) -> int:
    from aligner.search import format_moments, search_texts

    moments = search_texts(_workspace(args), [args.query], top=args.top, checkpoint=args.checkpoint,
                           progress=sys.stderr.isatty())  # fmt: skip
    print(format_moments(args.query, moments[0]))
    return 0


def _add_tags(sub) -> None:
    p = _dataset_command(sub, "tags", "tag every second with the entities it shows")
    p.add_argument("--entities", default=None, metavar="FILE",
                   help="your entity list, one per line (default DATASET/annotations/entities.txt"
                        " if present), added to the transcripts' own noun phrases")  # fmt: skip
    p.add_argument("--no-mine", dest="mine", action="store_false",
                   help="only the listed entities, none mined from the transcripts")  # fmt: skip
    p.add_argument("--checkpoint", default=None, metavar="CKPT", help="as for `search`")
    p.set_defaults(run=_run_tags)


def _run_tags(args) -> int:
    from aligner.tags import compute_tags

    print(compute_tags(_workspace(args), entities_file=args.entities, mine=args.mine,
                       checkpoint=args.checkpoint, progress=sys.stderr.isatty()))  # fmt: skip
    return 0


# -- labels ------------------------------------------------------------------------------------
def _add_labels(sub) -> None:
    p = sub.add_parser("labels", help="curator labels: import existing annotations")
    labels = p.add_subparsers(dest="labels_command", required=True, metavar="ACTION")
    q = _dataset_command(labels, "import", "import HTM-Align JSON or an aligner JSONL export"
                                           " as curator labels")  # fmt: skip
    q.add_argument("file", metavar="FILE", help="htm_align.json or an `aligner export` .jsonl")
    q.add_argument("--format", default="auto", choices=("auto", "htm-align", "jsonl"),
                   help="auto: .jsonl/.ndjson = JSONL export, else HTM-Align JSON")  # fmt: skip
    q.add_argument("--curator", default=None,
                   help="curator name recorded (default import:<file name>)")  # fmt: skip
    q.add_argument("--overwrite", action="store_true",
                   help="replace decisions someone else made differently (default: keep them)")  # fmt: skip
    q.set_defaults(run=_run_labels_import)


def _run_labels_import(args) -> int:
    from aligner.labels_import import import_labels

    summary = import_labels(_workspace(args), args.file, fmt=args.format, curator=args.curator,
                            overwrite=args.overwrite)  # fmt: skip
    print(summary)
    return 0


# -- users -------------------------------------------------------------------------------------
def _add_users(sub) -> None:
    p = sub.add_parser("users", help="who may sign in to the review app")
    users = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users.add_parser("add", help="add (or replace) a user with a password")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--dataset", metavar="DATASET", help="users file DATASET/.aligner/users.json")
    add.add_argument("--file", metavar="PATH", help="the users file (instead of --dataset)")
    add.add_argument("--admin", action="store_true", help="may adjudicate and export")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--oidc-only", action="store_true", help="no password: sign in via st.login")
    add.set_defaults(run=_run_users_add)


def _users_file(args):
    from pathlib import Path

    from aligner.users import USERS_FILE
    from aligner.workspace import open_workspace

    if args.file:
        return Path(args.file)
    if not args.dataset:
        raise AlignerError("say where the users file is: --dataset DATASET or --file PATH")
    return open_workspace(args.dataset).root / USERS_FILE


def _run_users_add(args) -> int:
    import getpass

    from aligner.users import add_user

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not args.oidc_only:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise AlignerError("the two passwords differ; nothing was written")
    path = _users_file(args)
    add_user(path, args.name, password, role="admin" if args.admin else "curator")
    print(f"{path}: user {args.name!r} saved ({'admin' if args.admin else 'curator'})")
    return 0
