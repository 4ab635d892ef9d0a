"""Cleaned-dataset export: the stored sentences with their final (visually aligned) times.

One record per sentence, in (video, sentence) order, carrying its provenance:
  start, end, alignable   the final answer: the curator's when a human decided, else the model's
  alignability            1.0 / 0.0 for a human decision, else the model's probability
  source                  curator | model | asr (no prediction and no label: the ASR times)
  asr_start, asr_end      the narration's own times
  pred_*, run_id          the model's prediction from `run_id`
  label_status, label_reason, curator, decided_at   the current human label, if any
Formats: howto100m (caption.json), jsonl, parquet, csv, htm-align (the benchmark's ground-truth
format), and vtt / srt (one file per video in an output folder). Output is deterministic: the same
store exported twice gives byte-identical files (sorted keys, rounded floats, no "now").
`write_asr_subtitles` writes the Whisper transcripts back into the dataset as subtitle files.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aligner.atomic import atomic_write
from aligner.corpus import SUBTITLES_DIR
from aligner.errors import AlignerError
from aligner.subtitles import Cue, srt_text, vtt_text
from aligner.workspace import Workspace

FORMATS = ("howto100m", "jsonl", "parquet", "csv", "htm-align", "vtt", "srt")
# a folder of part=<n>/ Parquet files written by DuckDB in one COPY, for 10M+ sentences; kept
# apart from FORMATS (the record-by-record writers) because its layout is a tree, not one file
PARTITIONED = "parquet-partitioned"
ALL_FORMATS = (*FORMATS, PARTITIONED)
ALIGNABLE_THRESHOLD = 0.5  # model probability at or above which an unreviewed sentence is alignable
TIME_DECIMALS = 3  # seconds, to the millisecond
SCORE_DECIMALS = 4
DECIDED = ("accepted", "corrected", "not_alignable")  # label statuses that are a human decision
ACCEPTED = ("accepted", "corrected")
PARQUET_BATCH = 10_000  # records per parquet row group write

FIELDS = (
    "video_id", "idx", "sentence_id", "text", "start", "end", "alignable", "alignability",
    "source", "asr_text", "asr_start", "asr_end", "pred_start", "pred_end", "pred_peak",
    "pred_alignability", "run_id", "label_status", "label_reason", "curator", "decided_at",
)  # fmt: skip
_TIME_FIELDS = {"start", "end", "asr_start", "asr_end", "pred_start", "pred_end", "pred_peak"}
_SCORE_FIELDS = {"alignability", "pred_alignability"}


@dataclass(frozen=True)
class ExportFilters:
    """Which sentences to export; the defaults keep every sentence of every ok video."""

    min_alignability: float | None = None  # drop records whose `alignability` is below (or None)
    reviewed_only: bool = False  # only sentences a human decided (accepted/corrected/not alignable)
    accepted_only: bool = False  # only sentences a human accepted or corrected
    exclude_not_alignable: bool = False  # drop records whose final `alignable` is false (not None)
    tagged: Callable[[str, float, float], bool] | None = None  # `tags.window_filter` of --tag

    def keep(self, record: dict[str, Any]) -> bool:
        if self.tagged is not None and not self.tagged(*_span(record)):
            return False
        if self.reviewed_only and record["label_status"] not in DECIDED:
            return False
        if self.accepted_only and record["label_status"] not in ACCEPTED:
            return False
        if self.exclude_not_alignable and record["alignable"] is False:
            return False
        if self.min_alignability is not None:
            score = record["alignability"]
            return score is not None and score >= self.min_alignability
        return True


@dataclass
class ExportSummary:
    fmt: str
    out: Path
    run_id: str | None
    n_records: int = 0
    n_videos: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        sources = ", ".join(f"{n} {s}" for s, n in sorted(self.by_source.items())) or "none"
        run = self.run_id or "no predictions"
        return (
            f"exported {self.n_records} sentences of {self.n_videos} videos as {self.fmt}"
            f" to {self.out} (run {run}; final times from: {sources})"
        )


def export_dataset(
    ws: Workspace,
    *,
    fmt: str,
    out: str | Path,
    run_id: str | None = None,
    min_alignability: float | None = None,
    reviewed_only: bool = False,
    accepted_only: bool = False,
    exclude_not_alignable: bool = False,
    store=None,
    tag: str | None = None,
) -> ExportSummary:
    """Write the cleaned dataset of `ws` as `fmt` to `out` (a file, or a folder for vtt/srt).

    `run_id`: the predictions to use (default: the latest finished `tan` run; none is fine, the
    records then carry ASR times and human labels only). `store`: an open `Store` to read from
    (e.g. the review app's); by default the store file is opened read-only for the export.
    """
    if fmt not in ALL_FORMATS:
        raise AlignerError(f"unknown export format {fmt!r} (choose from {', '.join(ALL_FORMATS)})")
    tagged = _tag_filter(ws, tag) if tag else None  # records whose final window shows `tag`
    filters = ExportFilters(min_alignability, reviewed_only, accepted_only, exclude_not_alignable,
                            tagged)  # fmt: skip
    if store is not None:
        return _export(store, fmt, Path(out), run_id, filters)
    from aligner.store import Store

    with Store(ws.db_path, read_only=True) as opened:
        return _export(opened, fmt, Path(out), run_id, filters)


def _export(
    store, fmt: str, out: Path, run_id: str | None, filters: ExportFilters
) -> ExportSummary:
    run_id = _resolve_run(store, run_id)
    summary = ExportSummary(fmt=fmt, out=out, run_id=run_id)
    if fmt == PARTITIONED:
        for key, value in store.export_partitioned(run_id, out, filters).items():
            setattr(summary, key, value)
        return summary
    rows = (export_record(row, run_id) for row in store.export_rows(run_id))
    WRITERS[fmt](_counted((r for r in rows if filters.keep(r)), summary), out)
    return summary


def _tag_filter(ws, tag: str):
    from aligner.tags import window_filter

    return window_filter(ws, tag)


def _span(record: dict[str, Any]) -> tuple[str, float, float]:
    return record["video_id"], record["start"], record["end"]


def _resolve_run(store, run_id: str | None) -> str | None:
    if run_id is None:
        latest = store.latest_run("tan")
        return latest["run_id"] if latest else None
    if store.run(run_id) is None:
        raise AlignerError(f"{store.path}: no run {run_id!r} in this store")
    return run_id


def _counted(records: Iterable[dict], summary: ExportSummary) -> Iterator[dict]:
    last_video = None
    for record in records:
        summary.n_records += 1
        summary.by_source[record["source"]] = summary.by_source.get(record["source"], 0) + 1
        if record["video_id"] != last_video:
            summary.n_videos += 1
            last_video = record["video_id"]
        yield record


# -- one record per sentence -------------------------------------------------------------------
def export_record(row: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    """The exported record of one joined row (`Store.export_rows`): final answer + provenance."""
    status = row["label_status"]
    predicted = row["pred_alignability"] is not None
    if status in DECIDED:
        source, alignable = "curator", bool(row["label_alignable"])
        alignability = 1.0 if alignable else 0.0
    elif predicted:
        source, alignability = "model", row["pred_alignability"]
        alignable = alignability >= ALIGNABLE_THRESHOLD
    else:
        source, alignable, alignability = "asr", None, None
    start, end = _final_times(row, source, alignable)
    decided = row["decided_at"]
    record = {
        **{k: row[k] for k in ("video_id", "idx", "sentence_id", "text", "asr_text", "asr_start",
                               "asr_end")},  # text: a curator's fixed words; asr_text: the original
        **{k: row[k] for k in ("pred_start", "pred_end", "pred_peak", "pred_alignability")},
        "start": start, "end": end, "alignable": alignable, "alignability": alignability,
        "source": source, "run_id": run_id if predicted else None,
        "label_status": status, "label_reason": row["label_reason"], "curator": row["curator"],
        "decided_at": decided.isoformat() if decided is not None else None,
    }  # fmt: skip
    return _rounded(record)


def _final_times(row: dict[str, Any], source: str, alignable: bool | None) -> tuple[float, float]:
    """The curator's window when one was given; else the model's; else (or when the curator said
    "not alignable", so no visual window exists) the narration's own ASR times."""
    if source == "curator" and row["label_start"] is not None and row["label_end"] is not None:
        return row["label_start"], row["label_end"]
    if row["pred_start"] is not None and (source == "model" or alignable):
        return row["pred_start"], row["pred_end"]
    return row["asr_start"], row["asr_end"]


def _rounded(record: dict[str, Any]) -> dict[str, Any]:
    for key in _TIME_FIELDS | _SCORE_FIELDS:
        value = record[key]
        if value is not None:
            digits = TIME_DECIMALS if key in _TIME_FIELDS else SCORE_DECIMALS
            record[key] = round(float(value), digits)
    return record


# -- writers -----------------------------------------------------------------------------------
def _by_video(records: Iterable[dict]) -> Iterator[tuple[str, list[dict]]]:
    for video_id, group in itertools.groupby(records, key=lambda r: r["video_id"]):
        yield video_id, list(group)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _write_json_object(out: Path, items: Iterator[tuple[str, Any]]) -> None:
    """`{"key": value, ...}` written one video at a time, keys in video order (already sorted)."""

    def write(fh) -> None:
        fh.write("{")
        for n, (key, value) in enumerate(items):
            fh.write(("," if n else "") + "\n" + _json(key) + ": " + _json(value))
        fh.write("\n}\n")

    atomic_write(out, write, mode="w")


def write_howto100m(records: Iterable[dict], out: Path) -> None:
    """caption.json: {video_id: {start, end, text, + provenance lists}}; start/end are final."""
    _write_json_object(out, ((vid, _howto100m_entry(rows)) for vid, rows in _by_video(records)))


def _howto100m_entry(rows: list[dict]) -> dict[str, list]:
    # HowTo100M readers index start/end/text; the parallel provenance lists ride along unread
    keys = ("start", "end", "text", "alignable", "alignability", "source", "asr_text",
            "asr_start", "asr_end", "pred_start", "pred_end", "curator", "decided_at")  # fmt: skip
    return {key: [row[key] for row in rows] for key in keys}


def write_htm_align(records: Iterable[dict], out: Path) -> None:
    """HTM-Align ground truth: {video_id: [[alignable 1|0, start, end, text], ...]}.

    Sentences with no alignability at all (no prediction, no label) are left out: the format has
    no way to say "unknown"."""
    known = (r for r in records if r["alignable"] is not None)
    entries = (
        (vid, [[int(r["alignable"]), r["start"], r["end"], r["text"]] for r in rows])
        for vid, rows in _by_video(known)
    )
    _write_json_object(out, entries)


def write_jsonl(records: Iterable[dict], out: Path) -> None:
    def write(fh) -> None:
        for record in records:
            fh.write(_json({k: record[k] for k in FIELDS}) + "\n")

    atomic_write(out, write, mode="w")


def write_csv(records: Iterable[dict], out: Path) -> None:
    def write(fh) -> None:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FIELDS)
        for record in records:
            writer.writerow([_csv_cell(k, record[k]) for k in FIELDS])

    atomic_write(out, write, mode="w")


def _csv_cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if key in _TIME_FIELDS:
        return f"{value:.{TIME_DECIMALS}f}"
    if key in _SCORE_FIELDS:
        return f"{value:.{SCORE_DECIMALS}f}"
    return str(value)


def write_parquet(records: Iterable[dict], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _PARQUET_TYPES.get(name, "string")) for name in FIELDS])

    def write(fh) -> None:
        with pq.ParquetWriter(fh, schema) as writer:
            for batch in _batches(records, PARQUET_BATCH):
                columns = {name: [r[name] for r in batch] for name in FIELDS}
                writer.write_table(pa.table(columns, schema=schema))

    atomic_write(out, write)


def _batches(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(records)
    while batch := list(itertools.islice(it, size)):
        yield batch


_PARQUET_TYPES = {
    "idx": "int32", "sentence_id": "int64", "alignable": "bool",
    **{name: "float64" for name in _TIME_FIELDS | _SCORE_FIELDS},
}  # fmt: skip


def _write_subtitles(records: Iterable[dict], out: Path, fmt: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    render = vtt_text if fmt == "vtt" else srt_text
    for video_id, rows in _by_video(records):
        # cue start times must not go backwards (WebVTT), and aligned windows may reorder
        rows.sort(key=lambda r: (r["start"], r["idx"]))
        cues = [Cue(r["start"], r["end"], r["text"]) for r in rows]
        atomic_write(
            out / f"{video_id}.{fmt}", lambda fh, cues=cues: fh.write(render(cues)), mode="w"
        )


def write_asr_subtitles(ws: Workspace) -> int:
    """Write `DATASET/subtitles/<video_id>.vtt` with the stored sentences of every video whose
    text came from Whisper, unless that file exists (never overwrites); returns how many were
    written. The next ingest reads them as ordinary subtitles (same sentences, no ASR)."""
    from aligner.store import Store

    folder = ws.dataset / SUBTITLES_DIR
    written = 0
    with Store(ws.db_path, read_only=True) as store:
        for video in store.videos():
            target = folder / f"{video['video_id']}.vtt"
            if video["subtitle_source"] != "asr" or target.exists():
                continue
            cues = [Cue(s.start, s.end, s.text) for s in store.sentences(video["video_id"])]
            atomic_write(target, lambda fh, cues=cues: fh.write(vtt_text(cues)), mode="w")
            written += 1
    return written


WRITERS: dict[str, Callable[[Iterable[dict], Path], None]] = {
    "howto100m": write_howto100m,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
    "csv": write_csv,
    "htm-align": write_htm_align,
    "vtt": lambda records, out: _write_subtitles(records, out, "vtt"),
    "srt": lambda records, out: _write_subtitles(records, out, "srt"),
}
