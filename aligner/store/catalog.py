"""Videos and their ASR sentences."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import duckdb

INSERT_BATCH_ROWS = 50_000  # sentences per INSERT statement
NEW_ID = -1  # in a batch's sentence_id column: take the next id from the sequence (ids are > 0)


@dataclass(frozen=True)
class SentenceRow:
    """One ASR sentence as stored; times in seconds."""

    sentence_id: int
    video_id: str
    idx: int
    start: float
    end: float
    text: str


class CatalogQueries:
    def upsert_video(self, video_id: str, **fields: Any) -> None:
        """Insert or update a `videos` row; `fields` are column names of `videos`."""
        columns = ["video_id", *fields]
        placeholders = ", ".join("?" for _ in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in fields)
        quoted = ", ".join(f'"{c}"' for c in columns)
        _check_columns(fields, _VIDEO_COLUMNS)
        self.con.execute(
            f"INSERT INTO videos ({quoted}) VALUES ({placeholders})"
            f" ON CONFLICT (video_id) DO UPDATE SET {updates}, ingested_at = now()",
            [video_id, *fields.values()],
        )

    def video(self, video_id: str) -> dict[str, Any] | None:
        rows = self.query_dicts("SELECT * FROM videos WHERE video_id = ?", [video_id])
        return rows[0] if rows else None

    def videos(self, *, status: str | None = "ok") -> list[dict[str, Any]]:
        """All videos (with `status` when given), ordered by id."""
        if status is None:
            return self.query_dicts("SELECT * FROM videos ORDER BY video_id")
        return self.query_dicts("SELECT * FROM videos WHERE status = ? ORDER BY video_id", [status])

    def sentences(self, video_id: str | None = None) -> list[SentenceRow]:
        """Sentences of one video (or all), in order."""
        sql = 'SELECT sentence_id, video_id, idx, start, "end", text FROM sentences'
        params: list = []
        if video_id is not None:
            sql += " WHERE video_id = ?"
            params.append(video_id)
        rows = self.query(sql + " ORDER BY video_id, idx", params)
        return [SentenceRow(*row) for row in rows]

    def replace_sentences(
        self, video_id: str, sentences: Iterable[tuple[float, float, str]]
    ) -> list[int]:
        """Store a video's sentences `(start, end, text)`, replacing the previous ones; returns
        their ids in order.

        A sentence whose text (and position among equal texts) was already stored keeps its
        `sentence_id`, so labels and predictions attached to it survive a re-ingest of an edited
        subtitle file. Runs inside the caller's transaction if there is one. `sentences` may be
        a generator: it is consumed `INSERT_BATCH_ROWS` at a time.
        """
        self._store_sentences(video_id, sentences)
        return self.sentence_ids(video_id)

    def sentence_ids(self, video_id: str) -> list[int]:
        """The ids of a video's sentences, in order."""
        rows = self.query(
            "SELECT sentence_id FROM sentences WHERE video_id = ? ORDER BY idx", [video_id]
        )
        return [int(r[0]) for r in rows]

    def _store_sentences(self, video_id: str, sentences: Iterable[tuple[float, float, str]]) -> int:
        """`replace_sentences` without reading the ids back; returns how many were stored."""
        old = self.query(
            "SELECT sentence_id, text FROM sentences WHERE video_id = ? ORDER BY idx", [video_id]
        )
        reusable: dict[str, list[int]] = {}
        for sentence_id, text in old:
            reusable.setdefault(text, []).append(sentence_id)
        del old
        self.con.execute("DELETE FROM sentences WHERE video_id = ?", [video_id])
        stored = 0
        rows = iter(sentences)
        while batch := list(islice(rows, INSERT_BATCH_ROWS)):
            kept = []
            for _start, _end, text in batch:
                ids_for_text = reusable.get(text)
                kept.append(ids_for_text.pop(0) if ids_for_text else NEW_ID)
            self._insert_batch(video_id, batch, kept, first_idx=stored)
            stored += len(batch)
        return stored

    def _insert_batch(self, video_id: str, batch: list, kept_ids: list[int], first_idx: int):
        """One INSERT for up to `INSERT_BATCH_ROWS` sentences (one statement per row took
        minutes for a 50 MB subtitle file's ~500k); a kept id is reused, `NEW_ID` takes the next
        from the sequence. Columns go in as numpy arrays: DuckDB scans them in place, and it
        spares pyarrow's first-use cost (~50 MB resident for the rest of the process)."""
        import numpy as np

        columns = {
            "sentence_id": np.array(kept_ids, np.int64),
            "idx": np.arange(first_idx, first_idx + len(batch), dtype=np.int32),
            "start": np.array([float(s[0]) for s in batch], np.float64),
            "end": np.array([float(s[1]) for s in batch], np.float64),
            "text": np.array([s[2] for s in batch], object),
        }
        name = f"_new_sentences_{id(columns):x}"  # unique: cursors of one connection share views
        self.con.register(name, columns)
        try:
            self.con.execute(
                'INSERT INTO sentences (sentence_id, video_id, idx, start, "end", text)'
                f" SELECT CASE WHEN sentence_id = {NEW_ID} THEN nextval('sentence_id_seq')"
                f' ELSE sentence_id END, ?, idx, start, "end", text FROM {name}',
                [video_id],
            )
        finally:
            # after a failed INSERT the transaction is aborted and unregistering fails too; the
            # rollback drops the view, and the INSERT's error is the one worth raising
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)

    def write_video(
        self,
        video_id: str,
        fields: dict[str, Any],
        sentences: Iterable[tuple[float, float, str]] | None = None,
        *,
        ids: bool = True,
    ) -> list[int]:
        """Upsert a video row and (when `sentences` is given) replace its sentences, in one
        transaction: a failure leaves the video exactly as it was. Returns the sentence ids
        (`ids=False`: [], for ingest: half a million ids are ~40 MB of Python ints)."""
        with self.transaction():
            self.upsert_video(video_id, **fields)
            if sentences is None:
                return []
            self._store_sentences(video_id, sentences)
            return self.sentence_ids(video_id) if ids else []

    def sentence_count(self, video_ids: Sequence[str] | None = None) -> int:
        """Number of stored sentences (of these videos when given)."""
        if video_ids is None:
            return int(self.query("SELECT count(*) FROM sentences")[0][0])
        rows = self.query(
            "SELECT count(*) FROM sentences WHERE list_contains(?, video_id)", [list(video_ids)]
        )
        return int(rows[0][0])

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables, for summaries and tests."""
        tables = ["videos", "sentences", "runs", "predictions", "labels", "label_events"]
        return {t: int(self.query(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}

    def total_duration(self) -> float:
        """Seconds of video over the ok videos."""
        rows = self.query("SELECT coalesce(sum(duration), 0) FROM videos WHERE status = 'ok'")
        return float(rows[0][0])


_VIDEO_COLUMNS = {
    "path", "duration", "fps", "width", "height", "size_bytes", "mtime", "subtitle_path",
    "subtitle_source", "input_key", "status", "error",
}  # fmt: skip


def _check_columns(fields, allowed: set[str]) -> None:
    # column names are interpolated into SQL, so only known names may pass
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown videos columns: {sorted(unknown)}")
