"""Videos and their ASR sentences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INSERT_BATCH_ROWS = 50_000  # sentences per INSERT statement


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
        self, video_id: str, sentences: Sequence[tuple[float, float, str]]
    ) -> list[int]:
        """Store a video's sentences `(start, end, text)`, replacing the previous ones.

        A sentence whose text (and position among equal texts) was already stored keeps its
        `sentence_id`, so labels and predictions attached to it survive a re-ingest of an edited
        subtitle file. Runs inside the caller's transaction if there is one.
        """
        old = self.query(
            "SELECT sentence_id, text FROM sentences WHERE video_id = ? ORDER BY idx", [video_id]
        )
        reusable: dict[str, list[int]] = {}
        for sentence_id, text in old:
            reusable.setdefault(text, []).append(sentence_id)
        self.con.execute("DELETE FROM sentences WHERE video_id = ?", [video_id])
        kept = []
        for _start, _end, text in sentences:
            ids_for_text = reusable.get(text)
            kept.append(ids_for_text.pop(0) if ids_for_text else None)
        self._insert_sentences(video_id, sentences, kept)
        rows = self.query(
            "SELECT sentence_id FROM sentences WHERE video_id = ? ORDER BY idx", [video_id]
        )
        return [int(r[0]) for r in rows]

    def _insert_sentences(self, video_id: str, sentences, kept_ids: list[int | None]) -> None:
        """A few INSERTs for all of a video's sentences (a 50 MB subtitle file has ~500k: one
        statement per row took minutes); a kept id is reused, the others come from the
        sequence. Batches keep the Arrow copy of the rows small."""
        import pyarrow as pa

        for lo in range(0, len(sentences), INSERT_BATCH_ROWS):
            batch = sentences[lo : lo + INSERT_BATCH_ROWS]
            table = pa.table({
                "sentence_id": pa.array(kept_ids[lo : lo + len(batch)], pa.int64()),
                "idx": pa.array(range(lo, lo + len(batch)), pa.int32()),
                "start": pa.array([float(s[0]) for s in batch], pa.float64()),
                "end": pa.array([float(s[1]) for s in batch], pa.float64()),
                "text": pa.array([s[2] for s in batch], pa.string()),
            })  # fmt: skip
            name = f"_new_sentences_{id(table):x}"  # unique: cursors of one connection share views
            self.con.register(name, table)
            try:
                self.con.execute(
                    'INSERT INTO sentences (sentence_id, video_id, idx, start, "end", text)'
                    " SELECT CASE WHEN sentence_id IS NULL THEN nextval('sentence_id_seq')"
                    f' ELSE sentence_id END, ?, idx, start, "end", text FROM {name}',
                    [video_id],
                )
            finally:
                self.con.unregister(name)

    def write_video(
        self,
        video_id: str,
        fields: dict[str, Any],
        sentences: Sequence[tuple[float, float, str]] | None = None,
    ) -> list[int]:
        """Upsert a video row and (when `sentences` is given) replace its sentences, in one
        transaction: a failure leaves the video exactly as it was. Returns the sentence ids."""
        with self.transaction():
            self.upsert_video(video_id, **fields)
            if sentences is None:
                return []
            return self.replace_sentences(video_id, sentences)

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
