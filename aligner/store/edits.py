"""Curators' fixes of a sentence's words, with their history.

`sentences.text` stays what ASR (or the subtitles) said; each fix is a `text_edits` row with
the text before and after, so the newest row is the sentence's text and every change can be
read back or undone. Export writes the edited text and keeps the original as `asr_text`.
"""

from __future__ import annotations

from typing import Any

from aligner.errors import AlignerError

MAX_TEXT_CHARS = 2000  # a sentence longer than this is not a sentence


class TextEditQueries:
    def edit_text(
        self, sentence_id: int, text: str | None, *, curator: str, expected_version: int | None
    ) -> int:
        """Set a sentence's words (None or the ASR text itself: back to the ASR text); returns
        the new edit version. A mismatching `expected_version` raises `StaleWriteError`."""
        from aligner.store.review import StaleWriteError, _check_curator

        curator = _check_curator(curator)
        if text is not None:
            text = " ".join(text.split())
            if not text:
                raise AlignerError("a sentence's text must not be empty")
            if len(text) > MAX_TEXT_CHARS:
                raise AlignerError(f"a sentence's text is limited to {MAX_TEXT_CHARS} characters")

        def write() -> int:
            with self.transaction() as con:
                asr = con.execute(
                    "SELECT text FROM sentences WHERE sentence_id = ?", [sentence_id]
                ).fetchone()
                if asr is None:
                    raise AlignerError(f"sentence {sentence_id} does not exist in the store")
                before, version = self._text_state(con, sentence_id)
                if expected_version is not None and int(expected_version) != version:
                    raise StaleWriteError(
                        f"the text of this sentence was changed by someone else (version"
                        f" {version}, you had {expected_version}); reload it and edit again"
                    )
                after = None if text in (None, asr[0]) else text
                con.execute(
                    "INSERT INTO text_edits (sentence_id, curator, before_text, after_text,"
                    " version) VALUES (?, ?, ?, ?, ?)",
                    [sentence_id, curator, before, after, version + 1],
                )
                return version + 1

        return self.retry_on_conflict(write)

    def edited_texts(self, video_id: str) -> dict[int, dict[str, Any]]:
        """sentence_id -> {"text" (None = the ASR text), "version", "curator"} for every
        sentence of the video that was ever edited."""
        rows = self.query_dicts(
            "SELECT e.sentence_id, e.after_text AS text, e.version, e.curator"
            " FROM text_edits e JOIN sentences s USING (sentence_id) WHERE s.video_id = ?"
            " QUALIFY row_number() OVER (PARTITION BY e.sentence_id ORDER BY e.edit_id DESC) = 1",
            [video_id],
        )
        return {int(r.pop("sentence_id")): r for r in rows}

    def text_history(self, sentence_id: int) -> list[dict[str, Any]]:
        """Every edit of a sentence's words, oldest first."""
        return self.query_dicts(
            "SELECT curator, created_at, before_text, after_text, version FROM text_edits"
            " WHERE sentence_id = ? ORDER BY edit_id",
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
