"""Curators in the review app: where each one was (place), who is on a video now (presence),
and sign-in sessions (a hash of each cookie token, never the token itself).
"""

from __future__ import annotations

import hashlib
from typing import Any

PRESENCE_TTL_S = 20.0  # a curator not seen for this long has left the video
SESSION_TTL_S = 7 * 24 * 3600.0  # a sign-in lasts a week


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CuratorQueries:
    # -- place ----------------------------------------------------------------------------
    def save_place(self, curator: str, video_id: str, sentence_id: int | None) -> None:
        """Remember the video and sentence `curator` is on (one row per curator)."""
        self.retry_on_conflict(
            lambda: self.con.execute(
                "INSERT OR REPLACE INTO review_place (curator, video_id, sentence_id, updated_at)"
                " VALUES (?, ?, ?, current_timestamp)",
                [curator, video_id, sentence_id],
            )
        )

    def place(self, curator: str) -> dict[str, Any] | None:
        """`{"video_id", "sentence_id"}` where `curator` last was, or None."""
        rows = self.query_dicts(
            "SELECT video_id, sentence_id FROM review_place WHERE curator = ?", [curator]
        )
        return rows[0] if rows else None

    # -- presence -------------------------------------------------------------------------
    def touch_presence(
        self, video_id: str, curator: str, sentence_id: int | None, *, place: bool = False
    ) -> None:
        """`curator` is on `video_id` now (at `sentence_id`); leaves any other video. With
        `place`, also remembers it as the curator's place (one transaction for both)."""

        def write() -> None:
            with self.transaction() as con:
                if place:
                    con.execute(
                        "INSERT OR REPLACE INTO review_place"
                        " (curator, video_id, sentence_id, updated_at)"
                        " VALUES (?, ?, ?, current_timestamp)",
                        [curator, video_id, sentence_id],
                    )
                con.execute(
                    "DELETE FROM presence WHERE curator = ? AND video_id <> ?", [curator, video_id]
                )
                con.execute(
                    "INSERT OR REPLACE INTO presence (video_id, curator, sentence_id, seen_at)"
                    " VALUES (?, ?, ?, CAST(now() AS TIMESTAMP))",
                    [video_id, curator, sentence_id],
                )

        self.retry_on_conflict(write)

    def present(self, video_id: str, *, ttl_s: float = PRESENCE_TTL_S) -> list[dict[str, Any]]:
        """Curators seen on `video_id` in the last `ttl_s` seconds: curator, sentence_id."""
        return self.query_dicts(
            "SELECT curator, sentence_id FROM presence WHERE video_id = ?"
            " AND seen_at > CAST(now() AS TIMESTAMP) - to_seconds(?) ORDER BY curator",
            [video_id, float(ttl_s)],
        )

    # -- sign-in sessions -----------------------------------------------------------------
    def open_session(self, token: str, curator: str, role: str, *, ttl_s: float = SESSION_TTL_S):
        self.retry_on_conflict(
            lambda: self.con.execute(
                "INSERT OR REPLACE INTO review_sessions (token_hash, curator, role, expires_at)"
                " VALUES (?, ?, ?, CAST(now() AS TIMESTAMP) + to_seconds(?))",
                [_token_hash(token), curator, role, float(ttl_s)],
            )
        )

    def session_user(self, token: str) -> dict[str, str] | None:
        """`{"curator", "role"}` of a signed-in token that has not expired, else None."""
        rows = self.query_dicts(
            "SELECT curator, role FROM review_sessions WHERE token_hash = ?"
            " AND expires_at > CAST(now() AS TIMESTAMP)",
            [_token_hash(token)],
        )
        return rows[0] if rows else None

    def close_session(self, token: str) -> None:
        self.con.execute("DELETE FROM review_sessions WHERE token_hash = ?", [_token_hash(token)])
