"""Queries behind the cleaned-dataset export: sentences joined with one run's predictions and the
current human labels, streamed in (video, sentence) order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

EXPORT_BATCH_ROWS = 10_000  # rows fetched at a time, so a million-sentence store streams

_EXPORT_SQL = """
SELECT s.sentence_id, s.video_id, s.idx, coalesce(te.text, s.text) AS text, s.text AS asr_text,
       te.edit_kind, te.second_text, te.split_s, te.merged_with,  -- curators' text edits
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
LEFT JOIN (SELECT sentence_id, after_text AS text, kind AS edit_kind, second_text, split_s,
                  merged_with FROM text_edits  -- each sentence's newest edit
           QUALIFY row_number() OVER (PARTITION BY sentence_id ORDER BY edit_id DESC) = 1) te
       ON te.sentence_id = s.sentence_id
ORDER BY s.video_id, s.idx
"""


class ExportQueries:
    def export_rows(self, run_id: str | None) -> Iterator[dict[str, Any]]:
        """Every sentence of every ok video with `run_id`'s prediction (NULLs when none) and its
        current label (NULLs when none), in video / sentence order; curators' splits and merges
        applied (`aligner.store.edits.apply_structure`)."""
        from aligner.store.edits import apply_structure

        return apply_structure(self._joined_rows(run_id))

    def _joined_rows(self, run_id: str | None) -> Iterator[dict[str, Any]]:
        cur = self.con.cursor()  # its own cursor: the caller may query meanwhile
        try:
            cur.execute(_EXPORT_SQL, [run_id])
            names = [d[0] for d in cur.description]
            while batch := cur.fetchmany(EXPORT_BATCH_ROWS):
                for row in batch:
                    yield dict(zip(names, row, strict=True))
        finally:
            cur.close()
