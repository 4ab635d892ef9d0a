"""Curators' fixes of a sentence's words, splits in two and merges with the next, with history.

`sentences` stays what ASR (or the subtitles) said; each edit is a `text_edits` row with the
text before and after, so the newest row is the sentence's state and every change can be read
back or undone (a plain text edit back to the ASR words undoes a split or merge too). Export
writes the edited text, keeps the original as `asr_text`, and applies splits and merges
(`apply_structure`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from aligner.errors import AlignerError

MAX_TEXT_CHARS = 2000  # a sentence longer than this is not a sentence
MIN_PART_S = 0.1  # each part of a split sentence lasts at least this long

_STATE_SQL = """
SELECT e.sentence_id, e.kind, e.after_text AS text, e.second_text, e.split_s, e.merged_with,
       e.version, e.curator
FROM text_edits e JOIN sentences s USING (sentence_id) WHERE s.video_id = ?
QUALIFY row_number() OVER (PARTITION BY e.sentence_id ORDER BY e.edit_id DESC) = 1
"""


def _clean(text: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise AlignerError("a sentence's text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise AlignerError(f"a sentence's text is limited to {MAX_TEXT_CHARS} characters")
    return text


class TextEditQueries:
    def edit_text(
        self, sentence_id: int, text: str | None, *, curator: str, expected_version: int | None
    ) -> int:
        """Set a sentence's words (None or the ASR text itself: back to the ASR text, which also
        undoes a split or merge); returns the new edit version. A mismatching
        `expected_version` raises `StaleWriteError`."""
        clean = None if text is None else _clean(text)

        def values(con, asr_text: str, _sentence) -> dict:
            return {"kind": "text", "after_text": None if clean in (None, asr_text) else clean}

        return self._write_edit(sentence_id, curator, expected_version, values)

    def split_sentence(
        self, sentence_id: int, first: str, second: str, *, at_s: float, curator: str,
        expected_version: int | None,
    ) -> int:  # fmt: skip
        """Split a sentence in two: `first` said until `at_s` seconds, `second` from there."""
        first, second = _clean(first), _clean(second)

        def values(con, _asr_text, sentence) -> dict:
            start, end = sentence
            if not start + MIN_PART_S <= at_s <= end - MIN_PART_S:
                raise AlignerError(
                    f"a split must lie inside the sentence ({start:.1f}–{end:.1f} s), not at"
                    f" {at_s:.1f} s"
                )
            return {"kind": "split", "after_text": first, "second_text": second,
                    "split_s": round(float(at_s), 3)}  # fmt: skip

        return self._write_edit(sentence_id, curator, expected_version, values)

    def merge_with_next(self, sentence_id: int, *, curator: str, expected_version: int | None):
        """Merge a sentence with the next one of its video: one sentence, both texts."""

        def values(con, asr_text, _sentence) -> dict:
            nxt = con.execute(
                "SELECT n.sentence_id, n.text FROM sentences s JOIN sentences n"
                " ON n.video_id = s.video_id AND n.idx = s.idx + 1 WHERE s.sentence_id = ?",
                [sentence_id],
            ).fetchone()
            if nxt is None:
                raise AlignerError("the last sentence of a video has no next one to merge with")
            mine = self._text_state(con, sentence_id)[0] or asr_text
            theirs = self._text_state(con, int(nxt[0]))[0] or nxt[1]
            return {"kind": "merge", "after_text": _clean(f"{mine} {theirs}"),
                    "merged_with": int(nxt[0])}  # fmt: skip

        return self._write_edit(sentence_id, curator, expected_version, values)

    def _write_edit(self, sentence_id, curator, expected_version, values) -> int:
        from aligner.store.review import StaleWriteError, _check_curator

        curator = _check_curator(curator)

        def write() -> int:
            with self.transaction() as con:
                row = con.execute(
                    'SELECT text, start, "end" FROM sentences WHERE sentence_id = ?',
                    [sentence_id],
                ).fetchone()
                if row is None:
                    raise AlignerError(f"sentence {sentence_id} does not exist in the store")
                before, version = self._text_state(con, sentence_id)
                if expected_version is not None and int(expected_version) != version:
                    raise StaleWriteError(
                        f"the text of this sentence was changed by someone else (version"
                        f" {version}, you had {expected_version}); reload it and edit again"
                    )
                new = {"second_text": None, "split_s": None, "merged_with": None,
                       **values(con, row[0], (float(row[1]), float(row[2])))}  # fmt: skip
                con.execute(
                    "INSERT INTO text_edits (sentence_id, curator, kind, before_text, after_text,"
                    " second_text, split_s, merged_with, version)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [sentence_id, curator, new["kind"], before, new["after_text"],
                     new["second_text"], new["split_s"], new["merged_with"], version + 1],
                )  # fmt: skip
                return version + 1

        return self.retry_on_conflict(write)

    def edited_texts(self, video_id: str) -> dict[int, dict[str, Any]]:
        """sentence_id -> {"kind", "text" (None = the ASR text), "second_text", "split_s",
        "merged_with", "version", "curator"} for every sentence of the video ever edited."""
        rows = self.query_dicts(_STATE_SQL, [video_id])
        return {int(r.pop("sentence_id")): r for r in rows}

    def text_history(self, sentence_id: int) -> list[dict[str, Any]]:
        """Every edit of a sentence's words, oldest first."""
        return self.query_dicts(
            "SELECT curator, created_at, kind, before_text, after_text, second_text, split_s,"
            " version FROM text_edits WHERE sentence_id = ? ORDER BY edit_id",
            [sentence_id],
        )

    @staticmethod
    def _text_state(con, sentence_id: int) -> tuple[str | None, int]:
        row = con.execute(
            "SELECT after_text, version FROM text_edits WHERE sentence_id = ?"
            " ORDER BY edit_id DESC LIMIT 1",
            [sentence_id],
        ).fetchone()
        return (row[0], int(row[1])) if row else (None, 0)


def apply_structure(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Export rows (in video / sentence order) with splits and merges applied: a split row
    becomes two (the second part from `split_s`, same sentence id), a merged row ends where the
    next one ended and that next row is left out. Rows carry `edit_kind`, `second_text`, `split_s`,
    `merged_with` (NULL when not edited)."""
    absorbed: set[int] = set()
    pending: dict | None = None
    for row in rows:
        if row["sentence_id"] in absorbed:
            if pending is not None:
                pending["asr_end"] = row["asr_end"]
            continue
        if pending is not None:
            yield pending
            pending = None
        kind = row.pop("edit_kind", None)
        second, split_s, merged = (
            row.pop(k, None) for k in ("second_text", "split_s", "merged_with")
        )
        if kind == "split" and second is not None:
            yield {**row, "asr_end": split_s}
            yield {**row, "text": second, "asr_start": split_s}
        elif kind == "merge" and merged is not None:
            absorbed.add(merged)
            pending = row  # its end comes from the absorbed row
        else:
            yield row
    if pending is not None:
        yield pending
