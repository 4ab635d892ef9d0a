"""Queries for batch work at HowTo100M size, all set-based inside DuckDB (no Python row loops):
the batch pipeline's manifest, importing prediction shards (`read_parquet`), and the
partitioned Parquet export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXPORT_PARTITIONS = 64  # hive partitions `part=<n>` of a partitioned export (by video id hash)


class ScaleQueries:
    def manifest_rows(self) -> list[dict[str, Any]]:
        """Per ok video with sentences: video_id, path (relative), duration and its sentences as
        lists (sentence_ids, starts, ends, texts) in order."""
        return self.query_dicts(
            "SELECT v.video_id, v.path, v.duration, list(s.sentence_id ORDER BY s.idx) AS"
            " sentence_ids, list(s.start ORDER BY s.idx) AS starts,"
            ' list(s."end" ORDER BY s.idx) AS ends, list(s.text ORDER BY s.idx) AS texts'
            " FROM videos v JOIN sentences s USING (video_id) WHERE v.status = 'ok'"
            " GROUP BY v.video_id, v.path, v.duration ORDER BY v.video_id"
        )

    def import_prediction_files(self, run_id: str, files: Sequence[Path]) -> dict[str, int]:
        """Copy the rows of prediction shards into `predictions` under `run_id`, matched to the
        stored sentences by (video_id, idx) and text; rows whose sentence changed since (or
        never was ingested) are counted in `unmatched` and left out. One statement."""
        if not files:
            return {"imported": 0, "unmatched": 0}
        source = "read_parquet(?)"
        paths = [str(p) for p in files]
        with self.transaction() as con:
            con.execute(
                'INSERT OR REPLACE INTO predictions (run_id, sentence_id, alignability, start, "end",'
                " peak, dual_alignability, dual_peak)"
                ' SELECT ?, s.sentence_id, p.alignability, p.start, p."end", p.peak,'
                f" p.dual_alignability, p.dual_peak FROM {source} p"
                " JOIN sentences s ON s.video_id = p.video_id AND s.idx = p.idx AND s.text = p.text",
                [run_id, paths],
            )
            total = con.execute(f"SELECT count(*) FROM {source}", [paths]).fetchone()[0]
            imported = con.execute(
                "SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]
            ).fetchone()[0]
        return {"imported": int(imported), "unmatched": int(total) - int(imported)}

    def export_partitioned(self, run_id: str | None, out: Path, filters=None, *,
                           partitions: int = EXPORT_PARTITIONS) -> dict[str, Any]:  # fmt: skip
        """Write the cleaned dataset (the records of `aligner.export.export_record`, computed in
        SQL) as hive-partitioned Parquet, `out/part=<n>/*.parquet` (n = hash of the video id), in
        one COPY; `filters` an `aligner.export.ExportFilters`. Returns n_records, n_videos and
        by_source counts."""
        where, params = _filter_sql(filters)
        sql = _EXPORT_RECORD_SQL.format(partitions=int(partitions)) + where
        _clear_previous_export(Path(out))
        self.con.execute(
            f"COPY ({sql} ORDER BY video_id, idx) TO '{_quoted(out)}'"
            " (FORMAT parquet, PARTITION_BY (part))",
            {"run_id": run_id, **params},
        )
        files = f"{_quoted(out)}/*/*.parquet"  # counted from what was written: no second join
        rows = self.con.execute(
            f"SELECT source, count(*) FROM read_parquet('{files}') GROUP BY source"
        ).fetchall()
        videos = self.con.execute(f"SELECT count(DISTINCT video_id) FROM read_parquet('{files}')")
        return {"n_records": sum(int(r[1]) for r in rows), "n_videos": int(videos.fetchone()[0]),
                "by_source": {str(r[0]): int(r[1]) for r in rows}}  # fmt: skip


def _clear_previous_export(out: Path) -> None:
    """Remove the `part=<n>` folders of an earlier export to `out`; refuse a folder that holds
    anything else (an export never deletes what it did not write)."""
    import shutil

    from aligner.errors import AlignerError

    if not out.exists():
        return
    if not out.is_dir():
        raise AlignerError(f"{out}: not a folder (parquet-partitioned writes part=<n>/ folders)")
    entries = list(out.iterdir())
    foreign = [e.name for e in entries if not (e.is_dir() and e.name.startswith("part="))]
    if foreign:
        raise AlignerError(f"{out}: holds other files ({foreign[0]}, ...); export into an empty"
                           " or new folder")  # fmt: skip
    for entry in entries:
        shutil.rmtree(entry)


def _filter_sql(filters) -> tuple[str, dict[str, Any]]:
    """`ExportFilters.keep` as a WHERE clause over the export records."""
    if filters is None:
        return "", {}
    if getattr(filters, "tagged", None) is not None:
        from aligner.errors import AlignerError

        raise AlignerError("--tag filters the row-by-row formats only (tags live outside the"
                           " store): use jsonl or parquet, or export without --tag")  # fmt: skip
    clauses, params = [], {}
    if filters.reviewed_only:
        clauses.append("label_status IN ('accepted', 'corrected', 'not_alignable')")
    if filters.accepted_only:
        clauses.append("label_status IN ('accepted', 'corrected')")
    if filters.exclude_not_alignable:
        clauses.append("alignable IS DISTINCT FROM false")
    if filters.min_alignability is not None:
        clauses.append("alignability >= $min_alignability")
        params["min_alignability"] = float(filters.min_alignability)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


# `aligner.export.export_record` in SQL: the curator's answer when decided, else the model's,
# else the ASR times; rounded as the export rounds (3 decimals for times, 4 for scores).
# Parameter: $run_id.
_EXPORT_RECORD_SQL = """
WITH j AS (
  SELECT s.sentence_id, s.video_id, s.idx, coalesce(te.text, s.text) AS text, s.text AS asr_text,
         s.start AS asr_start, s."end" AS asr_end,
         p.alignability AS pred_alignability, p.start AS pred_start, p."end" AS pred_end,
         p.peak AS pred_peak, l.status AS label_status, l.alignable AS label_alignable,
         l.start AS label_start, l."end" AS label_end, l.reason AS label_reason, l.curator,
         l.decided_at,
         CASE WHEN l.status IN ('accepted', 'corrected', 'not_alignable') THEN 'curator'
              WHEN p.alignability IS NOT NULL THEN 'model' ELSE 'asr' END AS source
  FROM sentences s
  JOIN videos v ON v.video_id = s.video_id AND v.status = 'ok'
  LEFT JOIN predictions p ON p.sentence_id = s.sentence_id AND p.run_id = $run_id
  LEFT JOIN labels l ON l.sentence_id = s.sentence_id
  -- a curator's fixed words (the newest edit); splits and merges are applied only by the
  -- row-by-row export (aligner.store.edits.apply_structure), not in this one-COPY export
  LEFT JOIN (SELECT sentence_id, after_text AS text FROM text_edits
             QUALIFY row_number() OVER (PARTITION BY sentence_id ORDER BY edit_id DESC) = 1) te
         ON te.sentence_id = s.sentence_id
), a AS (
  SELECT *,
         CASE source WHEN 'curator' THEN label_alignable
                     WHEN 'model' THEN pred_alignability >= 0.5 END AS alignable,
         CASE source WHEN 'curator' THEN CASE WHEN label_alignable THEN 1.0 ELSE 0.0 END
                     WHEN 'model' THEN pred_alignability END AS alignability
  FROM j
), t AS (
  SELECT *,
         CASE WHEN source = 'curator' AND label_start IS NOT NULL AND label_end IS NOT NULL
                THEN label_start
              WHEN pred_start IS NOT NULL AND (source = 'model' OR alignable) THEN pred_start
              ELSE asr_start END AS final_start,
         CASE WHEN source = 'curator' AND label_start IS NOT NULL AND label_end IS NOT NULL
                THEN label_end
              WHEN pred_start IS NOT NULL AND (source = 'model' OR alignable) THEN pred_end
              ELSE asr_end END AS final_end
  FROM a
)
SELECT video_id, idx, sentence_id, text, round(final_start, 3) AS start,
       round(final_end, 3) AS "end", alignable, round(alignability, 4) AS alignability, source,
       asr_text, round(asr_start, 3) AS asr_start, round(asr_end, 3) AS asr_end,
       round(pred_start, 3) AS pred_start, round(pred_end, 3) AS pred_end,
       round(pred_peak, 3) AS pred_peak, round(pred_alignability, 4) AS pred_alignability,
       CASE WHEN pred_alignability IS NOT NULL THEN $run_id END AS run_id, label_status, label_reason,
       curator, strftime(decided_at, '%Y-%m-%dT%H:%M:%S.%f') AS decided_at,
       hash(video_id) % {partitions} AS part
FROM t
"""
