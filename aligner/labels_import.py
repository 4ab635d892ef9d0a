"""Import existing annotations as curator labels (`aligner labels import DATASET FILE`).

Two kinds of file:
- HTM-Align JSON `{video_id: [[alignable 1|0, start_s, end_s, text], ...]}`: an alignable row
  becomes a correction to its annotated window; a non-alignable row a "not alignable" decision
  (reason "other": the format has none). Its times are the narration's (ASR) ones.
- this tool's JSONL export (`aligner export --format jsonl`): only records that carry a human
  decision (`label_status` accepted | corrected | not_alignable) are imported, with their
  window (`start`/`end`) and `label_reason`; model-only or skipped records are counted as
  ignored: a model's guess is not a label.

Every label is recorded through `Store.record_decision` (a `labels` row and its `label_events`
history row) with the file as the curator (`import:<file name>` unless one is given).

Matching a file's sentence to a stored one, per video:
1. the same normalised text (lower case, no punctuation), taking repeated texts in order;
2. otherwise, when the file gives the narration's times (JSONL `asr_start`/`asr_end`, HTM-Align
   non-alignable rows), the stored sentence whose ASR span overlaps it most, if their
   intersection-over-union is at least `MIN_OVERLAP_IOU`. An HTM-Align alignable row's times are
   where it is *shown*, not when it is said, so such rows match by text only.
A stored sentence takes at most one label per import.

Re-importing is idempotent: a sentence whose current label already says the same is counted
"already present" and nothing is written. A different decision made by someone else (another
curator or another file) is kept, unless `overwrite`. A malformed file raises `InputError`
naming it before anything is written; a row with impossible times is counted invalid.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aligner.errors import AlignerError, InputError
from aligner.evaluate import normalise_text, read_ground_truth

FORMATS = ("auto", "htm-align", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
MIN_OVERLAP_IOU = 0.5  # ASR spans this similar are the same narration cut differently
CURATOR_PREFIX = "import:"
STATUS_ACTION = {"accepted": "accept", "corrected": "correct", "not_alignable": "not_alignable"}
DEFAULT_REASON = "other"
TIME_DECIMALS = 3  # the store keeps label times to the millisecond
MAX_EXAMPLES = 3  # unmatched sentences named in the summary


@dataclass(frozen=True)
class FileLabel:
    """One decision read from a file; `where` says where in the file (for messages)."""

    video_id: str
    text: str
    action: str  # accept | correct | not_alignable
    start: float | None = None  # the shown window (alignable decisions)
    end: float | None = None
    reason: str | None = None
    asr_start: float | None = None  # the narration's times, when the file gives them
    asr_end: float | None = None
    where: str = ""

    @property
    def alignable(self) -> bool:
        return self.action != "not_alignable"


@dataclass
class ImportSummary:
    """What one import did; `str()` is the line the CLI prints."""

    path: Path
    curator: str
    imported: int = 0
    already: int = 0
    kept: int = 0  # someone else's different decision left in place
    unmatched: int = 0
    invalid: int = 0
    ignored: int = 0  # JSONL records without a human decision
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.already} already present", f"{self.unmatched} unmatched"]
        if self.kept:
            parts.append(f"{self.kept} kept (decided otherwise by someone else)")
        if self.invalid:
            parts.append(f"{self.invalid} invalid")
        if self.ignored:
            parts.append(f"{self.ignored} without a human decision ignored")
        line = f"imported {self.imported} labels from {self.path} as {self.curator!r} ({', '.join(parts)})"
        if self.examples:
            line += "; unmatched e.g. " + "; ".join(self.examples)
        return line


# -- reading files -----------------------------------------------------------------------------
def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt not in FORMATS:
        raise AlignerError(f"unknown label file format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "htm-align"


def read_label_file(path: str | Path, fmt: str = "auto") -> tuple[list[FileLabel], int]:
    """`(labels, records without a human decision)`; a malformed file is an `InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "label file not found")
    if detect_format(path, fmt) == "jsonl":
        return read_jsonl_labels(path)
    return read_htm_align_labels(path), 0


def read_htm_align_labels(path: Path) -> list[FileLabel]:
    """HTM-Align rows as decisions (see the module doc)."""
    labels = []
    for n, t in enumerate(read_ground_truth(path)):
        where = f"{t.video_id} row {n}"
        if t.alignable:
            labels.append(FileLabel(t.video_id, t.text, "correct", t.start, t.end, where=where))
        else:
            labels.append(FileLabel(t.video_id, t.text, "not_alignable", reason=DEFAULT_REASON,
                                    asr_start=t.start, asr_end=t.end, where=where))  # fmt: skip
    return labels


def read_jsonl_labels(path: Path) -> tuple[list[FileLabel], int]:
    """The human decisions of an `aligner export --format jsonl` file, and how many records
    had none."""
    labels, ignored = [], 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label = _jsonl_label(path, n, line)
        if label is None:
            ignored += 1
        else:
            labels.append(label)
    return labels, ignored


def _jsonl_label(path: Path, n: int, line: str) -> FileLabel | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(path, f"line {n}: not JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise InputError(path, f"line {n}: expected one JSON object per line")
    missing = [k for k in ("video_id", "text", "label_status") if k not in record]
    if missing:
        raise InputError(path, f"line {n}: no {', '.join(missing)} (not an aligner JSONL export)")
    action = STATUS_ACTION.get(record["label_status"])
    if action is None:
        return None
    try:
        start, end = _seconds(record.get("start")), _seconds(record.get("end"))
        asr = _seconds(record.get("asr_start")), _seconds(record.get("asr_end"))
    except (TypeError, ValueError):
        raise InputError(path, f"line {n}: start/end/asr_start/asr_end must be seconds") from None
    reason = None
    if action == "not_alignable":
        from aligner.store.review import REASONS

        start = end = None
        reason = record.get("label_reason")
        reason = reason if reason in REASONS else DEFAULT_REASON
    return FileLabel(str(record["video_id"]), str(record["text"]), action, start, end, reason,
                     *asr, where=f"line {n}")  # fmt: skip


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(value)
    return value


# -- matching ----------------------------------------------------------------------------------
def match_labels(labels: Sequence[FileLabel], stored: Sequence[Any]) -> list[int | None]:
    """The stored `sentence_id` for each label (None: unmatched); see the module doc."""
    by_video: dict[str, list[Any]] = {}
    for s in stored:
        by_video.setdefault(s.video_id, []).append(s)
    out: list[int | None] = [None] * len(labels)
    per_video: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        per_video.setdefault(label.video_id, []).append(i)
    for video_id, indices in per_video.items():
        rows = by_video.get(video_id, [])
        taken: set[int] = set()
        _match_by_text([labels[i] for i in indices], rows, taken, indices, out)
        _match_by_overlap([labels[i] for i in indices], rows, taken, indices, out)
    return out


def _match_by_text(labels, rows, taken: set[int], indices, out) -> None:
    texts = [normalise_text(r.text) for r in rows]
    cursor = 0
    for label, i in zip(labels, indices, strict=True):
        want = normalise_text(label.text)
        free = [j for j, t in enumerate(texts) if t == want and j not in taken]
        if not free:
            continue
        j = next((j for j in free if j >= cursor), free[0])  # repeated texts: in order
        taken.add(j)
        cursor = j + 1
        out[i] = rows[j].sentence_id


def _match_by_overlap(labels, rows, taken: set[int], indices, out) -> None:
    for label, i in zip(labels, indices, strict=True):
        if out[i] is not None or label.asr_start is None or label.asr_end is None:
            continue
        best, best_iou = None, MIN_OVERLAP_IOU
        for j, row in enumerate(rows):
            iou = span_iou(label.asr_start, label.asr_end, row.start, row.end)
            if j not in taken and iou >= best_iou:
                best, best_iou = j, iou
        if best is not None:
            taken.add(best)
            out[i] = rows[best].sentence_id


def span_iou(a0: float, a1: float, b0: float, b1: float) -> float:
    """Intersection over union of two time spans (0 when either is empty)."""
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 and inter > 0 else 0.0


# -- writing decisions -------------------------------------------------------------------------
def import_labels(
    ws,
    path: str | Path,
    *,
    fmt: str = "auto",
    curator: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> ImportSummary:
    """Import the labels of `path` into the store of `ws` (see the module doc)."""
    from aligner.store import Store

    path = Path(path)
    labels, ignored = read_label_file(path, fmt)
    summary = ImportSummary(path, curator or f"{CURATOR_PREFIX}{path.name}", ignored=ignored)
    if not Path(ws.db_path).exists():
        raise AlignerError(f"{ws.db_path}: no store yet; run `aligner ingest {ws.dataset}` first")
    with Store(ws.db_path) as store:
        ids = match_labels(labels, store.sentences())
        current = {int(r["sentence_id"]): r for r in store.current_labels()}
        pairs = []
        for label, sentence_id in zip(labels, ids, strict=True):
            if sentence_id is None:
                summary.unmatched += 1
                if len(summary.examples) < MAX_EXAMPLES:
                    summary.examples.append(f"{label.where}: {label.text[:40]!r}")
            elif not _valid_times(label):
                summary.invalid += 1
            else:
                pairs.append((label, sentence_id))
        _record_all(store, pairs, current, summary, overwrite, progress)
    return summary


def _valid_times(label: FileLabel) -> bool:
    if not label.alignable:
        return True
    if label.start is None or label.end is None:
        return label.action == "accept"  # the store takes the predicted / ASR window
    return 0 <= round(label.start, TIME_DECIMALS) < round(label.end, TIME_DECIMALS)


def _record_all(store, pairs: Iterable, current: dict, summary: ImportSummary, overwrite: bool,
                progress: bool | None) -> None:  # fmt: skip
    from tqdm import tqdm

    from aligner.store.review import StaleWriteError

    pairs = list(pairs)
    bar = tqdm(pairs, desc="import labels", unit="label", file=sys.stderr,
               disable=None if progress is None else not progress)  # fmt: skip
    for label, sentence_id in bar:
        now = current.get(sentence_id)
        if now is not None and _same(now, label):
            summary.already += 1
            continue
        if _someone_else_decided(now, summary.curator) and not overwrite:
            summary.kept += 1
            continue
        version = int(now["version"]) if now is not None else store.label_version(sentence_id)
        try:
            store.record_decision(sentence_id, action=label.action, curator=summary.curator,
                                  alignable=label.alignable, start=label.start, end=label.end,
                                  reason=label.reason, expected_version=version)  # fmt: skip
        except StaleWriteError:  # a curator decided while we ran: theirs stands
            summary.kept += 1
            continue
        summary.imported += 1


def _same(now: dict, label: FileLabel) -> bool:
    """Does the current label already say what the file says?"""
    if now.get("alignable") is None or bool(now["alignable"]) != label.alignable:
        return False
    if not label.alignable:
        return (now.get("reason") or DEFAULT_REASON) == (label.reason or DEFAULT_REASON)
    if label.start is None or label.end is None:
        return True  # an accept without a window: any alignable label agrees
    return _ms(now["start"]) == _ms(label.start) and _ms(now["end"]) == _ms(label.end)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), TIME_DECIMALS)


def _someone_else_decided(now: dict | None, curator: str) -> bool:
    return now is not None and now.get("status") != "skipped" and now.get("curator") != curator
