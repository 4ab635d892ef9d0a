"""Runs (train / predict / auto-align), per-sentence predictions, and the content digest that
train and predict key on to skip work already done."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

PREDICTION_COLUMNS = (
    "sentence_id", "alignability", "start", "end", "peak", "dual_alignability", "dual_peak",
)  # fmt: skip


class RunQueries:
    def start_run(
        self, kind: str, *, model: str | None = None, params: Mapping | None = None
    ) -> str:
        """Open a `runs` row with status 'running'; returns its id."""
        run_id = f"{kind}-{uuid.uuid4().hex[:12]}"
        self.con.execute(
            "INSERT INTO runs (run_id, kind, status, model, params) VALUES (?, ?, 'running', ?, ?)",
            [run_id, kind, model, json.dumps(params or {}, sort_keys=True, default=str)],
        )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str = "done",
        checkpoint: str | None = None,
        timings: Mapping | None = None,
        metrics: Mapping | None = None,
    ) -> None:
        self.con.execute(
            "UPDATE runs SET status = ?, finished_at = current_timestamp,"
            " checkpoint = coalesce(?, checkpoint), timings = coalesce(?, timings),"
            " metrics = coalesce(?, metrics) WHERE run_id = ?",
            [status, checkpoint, _json_or_none(timings), _json_or_none(metrics), run_id],
        )

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query_dicts("SELECT * FROM runs WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    def latest_run(self, model: str | None = "tan", *, kind: str | None = None) -> dict | None:
        """The newest finished run (of `model` / `kind` when given) that has predictions."""
        rows = self.query_dicts(
            "SELECT * FROM runs r WHERE status = 'done'"
            " AND (? IS NULL OR model = ?) AND (? IS NULL OR kind = ?)"
            " AND EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.run_id)"
            " ORDER BY created_at DESC, run_id DESC LIMIT 1",
            [model, model, kind, kind],
        )
        return rows[0] if rows else None

    def save_predictions(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace predictions of a run; each row maps `PREDICTION_COLUMNS` to values."""
        values = [[run_id, *(row.get(c) for c in PREDICTION_COLUMNS)] for row in rows]
        if not values:
            return 0
        quoted = ", ".join(f'"{c}"' for c in ("run_id", *PREDICTION_COLUMNS))
        placeholders = ", ".join("?" for _ in range(len(PREDICTION_COLUMNS) + 1))
        self.con.executemany(
            f"INSERT OR REPLACE INTO predictions ({quoted}) VALUES ({placeholders})", values
        )
        return len(values)

    def predictions(self, run_id: str, video_id: str | None = None) -> list[dict[str, Any]]:
        """Predictions of a run joined with their sentences, in video / sentence order."""
        return self.query_dicts(
            'SELECT s.video_id, s.idx, s.text, s.start AS asr_start, s."end" AS asr_end, p.*'
            " FROM predictions p JOIN sentences s USING (sentence_id)"
            " WHERE p.run_id = ? AND (? IS NULL OR s.video_id = ?)"
            " ORDER BY s.video_id, s.idx",
            [run_id, video_id, video_id],
        )

    # -- what stages key on, and stale runs ------------------------------------------------------------
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

    def alignable_share(self, run_id: str, threshold: float) -> float | None:
        """Share of `run_id`'s predictions with alignability >= threshold (None when it has none)."""
        rows = self.query(
            "SELECT avg(CASE WHEN alignability >= ? THEN 1.0 ELSE 0.0 END) FROM predictions"
            " WHERE run_id = ?",
            [threshold, run_id],
        )
        return None if rows[0][0] is None else float(rows[0][0])


def _json_or_none(value: Mapping | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


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
