"""Queries behind the cleaned-dataset export: sentences joined with one run's predictions and the
current human labels, streamed in (video, sentence) order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

EXPORT_BATCH_ROWS = 10_000  # rows fetched at a time, so a million-sentence store streams

_EXPORT_SQL = """
SELECT s.sentence_id, s.video_id, s.idx, s.text,
       s.start AS asr_start, s."end" AS asr_end,
       p.alignability AS pred_alignability, p.start AS pred_start, p."end" AS pred_end,
       p.peak AS pred_peak,
       l.status AS label_status, l.alignable AS label_alignable,
       l.start AS label_start, l."end" AS label_end, l.reason AS label_reason,
       l.curator, l.decided_at
FROM sentences s
JOIN videos v ON v.video_id = s.video_id AND v.status = 'ok'
LEFT JOIN predictions p ON p.sentence_id = s.sentence_id AND p.run_id = ?
LEFT JOIN labels l ON l.sentence_id = s.sentence_id
ORDER BY s.video_id, s.idx
"""


class ExportQueries:
    def export_rows(self, run_id: str | None) -> Iterator[dict[str, Any]]:
        """Every sentence of every ok video with `run_id`'s prediction (NULLs when none) and its
        current label (NULLs when none), in video / sentence order."""
        cur = self.con.cursor()  # its own cursor: the caller may query meanwhile
        try:
            cur.execute(_EXPORT_SQL, [run_id])
            names = [d[0] for d in cur.description]
            while batch := cur.fetchmany(EXPORT_BATCH_ROWS):
                for row in batch:
                    yield dict(zip(names, row, strict=True))
        finally:
            cur.close()

    # -- auto-align bookkeeping ------------------------------------------------------------
    def content_digest(self) -> dict[str, str]:
        """md5 of what training and prediction read, per table: ok videos (file size / mtime /
        duration), sentences (times, text) and current human labels. Equal digests = nothing
        to recompute."""
        return {name: str(self.query(sql)[0][0]) for name, sql in _DIGEST_SQL.items()}

    def abandon_stale_runs(self) -> list[str]:
        """Runs left 'running' by a killed process become 'failed', and their partial predictions
        are deleted. Safe at start-up: DuckDB admits one writer, so no live process owns them."""
        stale = [r[0] for r in self.query("SELECT run_id FROM runs WHERE status = 'running'")]
        if stale:
            with self.transaction() as con:
                con.execute(
                    "DELETE FROM predictions WHERE run_id IN"
                    " (SELECT run_id FROM runs WHERE status = 'running')"
                )
                con.execute(
                    "UPDATE runs SET status = 'failed', finished_at = current_timestamp"
                    " WHERE status = 'running'"
                )
        return stale

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All runs (of `kind` when given), oldest first."""
        return self.query_dicts(
            "SELECT * FROM runs WHERE (? IS NULL OR kind = ?) ORDER BY created_at, run_id",
            [kind, kind],
        )

    def latest_auto_align(self) -> dict[str, Any] | None:
        """The newest finished auto-align run (its `metrics` say what it computed)."""
        rows = self.query_dicts(
            "SELECT * FROM runs WHERE kind = 'auto-align' AND status = 'done'"
            " ORDER BY created_at DESC, run_id DESC LIMIT 1"
        )
        return rows[0] if rows else None

    def alignable_share(self, run_id: str, threshold: float) -> float | None:
        """Share of `run_id`'s predictions with alignability >= threshold (None when it has none)."""
        rows = self.query(
            "SELECT avg(CASE WHEN alignability >= ? THEN 1.0 ELSE 0.0 END) FROM predictions"
            " WHERE run_id = ?",
            [threshold, run_id],
        )
        return None if rows[0][0] is None else float(rows[0][0])

    def total_duration(self) -> float:
        """Seconds of video over the ok videos."""
        rows = self.query("SELECT coalesce(sum(duration), 0) FROM videos WHERE status = 'ok'")
        return float(rows[0][0])


def _digest(columns: str, table: str, order: str, where: str = "") -> str:
    # ROW(...)::VARCHAR spells NULLs out, so (a, NULL) and (NULL, a) differ
    return (
        f"SELECT md5(coalesce(string_agg(CAST(ROW({columns}) AS VARCHAR), chr(10)"
        f" ORDER BY {order}), '')) FROM {table} {where}"
    )


_DIGEST_SQL = {
    "videos": _digest(
        "video_id, size_bytes, mtime, duration", "videos", "video_id", "WHERE status = 'ok'"
    ),
    "sentences": _digest(
        'sentence_id, video_id, idx, start, "end", text', "sentences", "sentence_id"
    ),
    "labels": _digest('sentence_id, status, alignable, start, "end"', "labels", "sentence_id"),
}
