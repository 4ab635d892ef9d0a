"""`aligner ingest`: discover -> parse subtitles (or ASR) -> sentencify -> store.

Idempotent: each video's `input_key` hashes what its sentences are made from (the subtitle
bytes or caption.json entry, the video's size and mtime, the sentencify parameters); a video
whose key is unchanged is skipped without being opened, so a second run changes nothing. A
changed subtitle file is re-ingested, and `replace_sentences` keeps the ids of unchanged
sentences so their labels survive.

A bad file is one line on stderr naming it; the video is stored with `status = 'error'` and
the batch goes on. A failure never deletes what an earlier run stored: a video that was `ok`
keeps its sentences (its `error` column says what went wrong this time).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from aligner.corpus import VideoSource, discover, probe_video
from aligner.errors import AlignerError, InputError
from aligner.sentencify import SentencifyParams, iter_sentences
from aligner.subtitles import Cue, cues_from_json, normalize_cues, read_subtitles
from aligner.workspace import Workspace

INGEST_VERSION = 2  # bump when parsing changes, so every video is ingested again
# 2: own WebVTT/SRT reader, labels stripped, HowTo100M repeated lines merged, cues clamped to
#    the video's duration, word length capped
NO_ASR_HINT = "ASR is off; run `aligner ingest --asr` to transcribe it"

Report = Callable[[str], None]


@dataclass
class IngestSummary:
    """What one `ingest_dataset` call did; `str()` is the one summary line."""

    videos: int = 0
    ok: int = 0
    no_subtitles: int = 0
    errors: int = 0
    unchanged: int = 0  # skipped: inputs identical to the last run
    sentences: int = 0  # stored for the videos of this dataset
    seconds: float = 0.0

    def add(self, status: str, *, unchanged: bool) -> None:
        attr = status if status in ("ok", "no_subtitles") else "errors"
        setattr(self, attr, getattr(self, attr) + 1)
        self.unchanged += unchanged

    def __str__(self) -> str:
        return (
            f"ingest: {self.videos} videos ({self.ok} ok, {self.no_subtitles} no subtitles,"
            f" {self.errors} errors; {self.unchanged} unchanged), {self.sentences} sentences,"
            f" {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class _Context:
    store: Any  # aligner.store.Store
    dataset: Path
    params: SentencifyParams
    asr: bool
    asr_model: str | None
    report: Report


@dataclass(frozen=True)
class _SubtitleInput:
    source: str | None  # vtt | srt | json | caption.json | None
    path: Path | None  # the file the cues come from (caption.json for an entry)
    digest: str  # sha256 of the file's bytes, of the entry's canonical JSON, or of b"" for none


def ingest_dataset(
    ws: Workspace,
    *,
    asr: bool = False,
    asr_model: str | None = None,
    params: SentencifyParams | None = None,
    progress: bool | None = None,
    report: Report | None = None,
) -> IngestSummary:
    """Ingest every video of `ws.dataset` into the store at `ws.db_path`.

    `asr`: transcribe videos without subtitles (`aligner.asr.transcribe`); `progress`: tqdm bar
    on stderr (None: only on a terminal); `report`: where per-file lines go (default stderr).
    """
    from tqdm import tqdm

    from aligner.store import Store

    started = time.perf_counter()
    report = report or _print_line
    if not ws.dataset.is_dir():
        raise AlignerError(f"{ws.dataset}: dataset folder does not exist")
    with Store(ws.db_path) as store:
        sources = discover(ws.dataset, warn=report, cache_dir=ws.root)
        stored = {row["video_id"]: row for row in store.videos(status=None)}
        ctx = _Context(store, ws.dataset, params or SentencifyParams(), asr, asr_model, report)
        summary = IngestSummary(videos=len(sources))
        bar = tqdm(sources, desc="ingest", unit="video", disable=_no_bar(progress), file=sys.stderr)
        for src in bar:
            status, unchanged = _ingest_video(ctx, src, stored.get(src.video_id))
            summary.add(status, unchanged=unchanged)
        summary.sentences = store.sentence_count([s.video_id for s in sources if not s.problem])
    summary.seconds = time.perf_counter() - started
    return summary


def _ingest_video(ctx: _Context, src: VideoSource, row: dict | None) -> tuple[str, bool]:
    """Ingest one video; returns (status, unchanged). Never raises for a bad input."""
    if src.problem:
        ctx.report(str(InputError(src.path, src.problem)))
        return "error", False
    try:
        subtitle = _subtitle_input(src)
        key = input_key(src, subtitle, ctx.params)
        if _up_to_date(row, key, asr=ctx.asr):
            _report_stored(ctx, src, row)
            return row["status"], True
        return _ingest_changed(ctx, src, row, subtitle, key), False
    except AlignerError as err:
        # a bad input file stays an error until it changes; other failures (ASR missing) retry
        return _record_error(ctx, src, row, str(err), keyed=isinstance(err, InputError)), False
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # one odd file must not stop a batch of thousands
        message = f"{src.path}: unexpected {type(err).__name__}: {err}"
        return _record_error(ctx, src, row, message, keyed=False), False


def _up_to_date(row: dict | None, key: str, *, asr: bool) -> bool:
    """Same inputs as last time, and nothing left to do (no pending ASR, no error kept on an
    `ok` row, which means the last run failed and the old sentences were kept)."""
    if row is None or row["input_key"] != key:
        return False
    if row["status"] == "no_subtitles":
        return not asr
    return not (row["status"] == "ok" and row["error"])


def _ingest_changed(
    ctx: _Context, src: VideoSource, row: dict | None, subtitle: _SubtitleInput, key: str
) -> str:
    info, stat = probe_video(src.path), src.path.stat()
    fields: dict[str, Any] = {
        "path": src.rel_path,
        "duration": info.duration,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "size_bytes": stat.st_size,
        "mtime": stat.st_mtime,
        "input_key": key,
        "error": None,
    }
    cues, source = _load_cues(ctx, src, subtitle, info.duration)
    if cues is None:
        if row is not None and row["status"] == "ok":
            raise AlignerError(f"{src.path}: no subtitles found any more ({NO_ASR_HINT})")
        ctx.report(f"{src.path}: no subtitles ({NO_ASR_HINT})")
        fields.update(status="no_subtitles", subtitle_path=None, subtitle_source=None)
        ctx.store.write_video(src.video_id, fields)
        return "no_subtitles"
    # sentences stream into the store a batch at a time (`replace_sentences`): the rows of a
    # 500k-sentence file are never all held as Python objects next to its cues
    sentences = ((s.start, s.end, s.text) for s in iter_sentences(cues, ctx.params))
    first = next(sentences, None)
    if first is None:
        raise InputError(subtitle.path or src.path, "no sentences with text")
    fields.update(status="ok", subtitle_source=source, subtitle_path=_subtitle_rel(ctx, subtitle))
    ctx.store.write_video(src.video_id, fields, chain([first], sentences), ids=False)
    return "ok"


def _load_cues(
    ctx: _Context, src: VideoSource, subtitle: _SubtitleInput, duration: float
) -> tuple[list[Cue] | None, str | None]:
    """The video's cues (kept inside its `duration`) and their source; (None, None) when it has
    no subtitles and ASR is off."""
    if subtitle.source == "caption.json":
        assert subtitle.path is not None
        raw = cues_from_json(src.caption_entry, subtitle.path, video_id=src.video_id)
        where = f"{subtitle.path} [{src.video_id}]"
        cues = normalize_cues(raw, where, warn=ctx.report, duration=duration)
        if not cues:
            raise InputError(subtitle.path, f"entry {src.video_id!r}: no captions with text")
        return cues, "caption.json"
    if subtitle.source is not None:
        assert subtitle.path is not None
        cues = read_subtitles(subtitle.path, warn=ctx.report, duration=duration)
        return cues, subtitle.source
    if not ctx.asr:
        return None, None
    return _transcribe(ctx, src.path, duration), "asr"


def _transcribe(ctx: _Context, path: Path, duration: float) -> list[Cue]:
    try:
        from aligner import asr
    except ImportError as err:
        raise AlignerError(f"{path}: ASR is not available ({err}); install aligner[asr]") from None
    try:
        cues = asr.transcribe(path, model=ctx.asr_model)
    except AlignerError:
        raise
    except Exception as err:
        raise AlignerError(f"{path}: ASR failed ({type(err).__name__}: {err})") from None
    if not cues:
        raise AlignerError(f"{path}: ASR found no speech")
    return normalize_cues(cues, path, warn=ctx.report, duration=duration)


def _record_error(
    ctx: _Context, src: VideoSource, row: dict | None, message: str, *, keyed: bool
) -> str:
    """Report the error; store it without losing anything an earlier run stored.

    `keyed`: store the input key, so the unchanged bad file is not opened again next run.
    """
    if row is not None and row["status"] == "ok":
        kept = ctx.store.sentence_count([src.video_id])
        ctx.report(f"{message} (kept the {kept} sentences stored before)")
        if row["error"] != message:
            fields = {"path": row["path"], "status": "ok", "error": message}
            ctx.store.write_video(src.video_id, fields)
        return "error"
    ctx.report(message)
    fields = {"path": src.rel_path, "status": "error", "error": message, "input_key": None}
    fields.update(dict.fromkeys(("duration", "fps", "width", "height", "subtitle_source")))
    fields.update(subtitle_path=None)
    try:
        stat = src.path.stat()
        fields.update(size_bytes=stat.st_size, mtime=stat.st_mtime)
        if keyed:
            fields["input_key"] = input_key(src, _subtitle_input(src), ctx.params)
    except (OSError, AlignerError):
        pass  # no key: the video is simply tried again next time
    if row is None or any(row.get(k) != v for k, v in fields.items()):
        ctx.store.write_video(src.video_id, fields)
    return "error"


def _report_stored(ctx: _Context, src: VideoSource, row: dict) -> None:
    """Unchanged inputs are skipped, but their problems are still worth a line each run."""
    if row["status"] == "error" and row["error"]:
        ctx.report(f"{row['error']} (unchanged since the last run)")
    elif row["status"] == "no_subtitles":
        ctx.report(f"{src.path}: no subtitles ({NO_ASR_HINT})")


def _subtitle_input(src: VideoSource) -> _SubtitleInput:
    if src.subtitle_path is not None:
        path = src.subtitle_path
        try:
            digest = _file_sha256(path)
        except OSError as err:
            raise InputError(path, f"cannot read ({err.strerror or err})") from None
        return _SubtitleInput(path.suffix.lower().lstrip("."), path, digest)
    if src.caption_entry is not None:
        data = json.dumps(src.caption_entry, sort_keys=True).encode()
        return _SubtitleInput("caption.json", src.caption_json, hashlib.sha256(data).hexdigest())
    return _SubtitleInput(None, None, hashlib.sha256(b"").hexdigest())


def _file_sha256(path: Path) -> str:
    """Hashed a piece at a time: the file is parsed from disk later, never held whole."""
    digest = hashlib.sha256()  # (hashlib.file_digest is Python 3.11+)
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def input_key(src: VideoSource, subtitle: _SubtitleInput, params: SentencifyParams) -> str:
    """Hash of everything a video's stored rows are made from (not the ASR flag: a transcribed
    video stays as it is when a later run has ASR off)."""
    stat = src.path.stat()
    parts = {
        "version": INGEST_VERSION,
        "video": [src.rel_path, stat.st_size, stat.st_mtime_ns],
        "subtitle": [subtitle.source, subtitle.digest],
        "params": asdict(params),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _subtitle_rel(ctx: _Context, subtitle: _SubtitleInput) -> str | None:
    if subtitle.source in (None, "caption.json") or subtitle.path is None:
        return None
    return subtitle.path.relative_to(ctx.dataset).as_posix()


def _no_bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _print_line(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
