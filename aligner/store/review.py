"""Human labels, their append-only history, claims and the review queue.

Every decision is one short transaction: read the current label (and its version), check the
caller's `expected_version` (stale-write detection), write the new `labels` row and one
`label_events` row with the values before and after. Versions only grow, also across undo, so a
client that read version N can never overwrite a decision made after it read.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

from aligner.errors import AlignerError

ACTIONS = {  # action -> label status
    "accept": "accepted",
    "correct": "corrected",
    "not_alignable": "not_alignable",
    "skip": "skipped",
}
REASONS = ("talking_head", "off_screen", "b_roll", "other")
CLAIM_TTL_S = 600  # a claim on a video lapses after 10 minutes without a refresh
PEAK_SCALE_S = 10.0  # joint and dual peaks this far apart count as full disagreement
GAP_SCALE_S = 30.0  # predicted window centre this far from the ASR centre counts as full doubt
SNIPPET_WORDS = 6  # words of a sentence quoted in messages, so a curator recognises it
LABEL_FIELDS = ("status", "alignable", "start", "end", "reason", "curator", "decided_at", "version")


class StaleWriteError(AlignerError):
    """The label changed since the caller read it; nothing was written."""


class ReviewQueries:
    # -- decisions ---------------------------------------------------------------------------
    def record_decision(
        self,
        sentence_id: int,
        *,
        action: str,
        curator: str,
        alignable: bool | None = None,
        start: float | None = None,
        end: float | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Store a curator's decision on one sentence; returns the new label version.

        `action` is accept | correct | not_alignable | skip. accept without start/end takes the
        newest prediction's window (or the ASR window when there is none); correct needs
        0 <= start < end (seconds); not_alignable takes a `reason` from `REASONS` (default
        "other"). `expected_version` (0 = "no decision yet") guards against overwriting a newer
        decision: a mismatch raises `StaleWriteError`.
        """
        curator = _check_curator(curator)
        if action not in ACTIONS:
            raise AlignerError(f"unknown review action {action!r} (one of {', '.join(ACTIONS)})")
        value = self._decision_value(sentence_id, action, alignable, start, end, reason)

        def write() -> int:
            with self.transaction() as con:
                before, version = self._label_state(con, sentence_id)
                _check_version(con, sentence_id, expected_version, version, before)
                after = {**value, "curator": curator, "version": version + 1}
                con.execute(
                    "INSERT OR REPLACE INTO labels (sentence_id, status, alignable, start, \"end\","
                    " reason, curator, decided_at, version)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?)",
                    [sentence_id, after["status"], after["alignable"], after["start"],
                     after["end"], after["reason"], curator, after["version"]],
                )  # fmt: skip
                after = self._label_row(con, sentence_id)
                _append_event(con, sentence_id, curator, action, before, after, version + 1)
                return version + 1

        # a retry re-reads the version, so a losing write with `expected_version` is stale
        return self.retry_on_conflict(write, lock=("label", sentence_id))

    def undo_last(self, sentence_id: int, *, curator: str) -> int | None:
        """Undo the newest decision still standing on a sentence; returns the new version.

        The label goes back to what it was before that decision (removed when there was none).
        Returns None when there is nothing to undo. The undo itself is a `label_events` row.
        """
        curator = _check_curator(curator)

        def write() -> int | None:
            with self.transaction() as con:
                standing = _standing_events(self._events(con, sentence_id))
                if not standing:
                    return None
                before, version = self._label_state(con, sentence_id)
                restore = json.loads(standing[-1]["before_value"] or "null")
                con.execute("DELETE FROM labels WHERE sentence_id = ?", [sentence_id])
                if restore is not None:
                    con.execute(
                        "INSERT INTO labels (sentence_id, status, alignable, start, \"end\","
                        " reason, curator, decided_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [sentence_id, restore["status"], restore["alignable"], restore["start"],
                         restore["end"], restore["reason"], restore["curator"],
                         restore["decided_at"], version + 1],
                    )  # fmt: skip
                after = self._label_row(con, sentence_id)
                _append_event(con, sentence_id, curator, "undo", before, after, version + 1)
                return version + 1

        return self.retry_on_conflict(write, lock=("label", sentence_id))

    def current_labels(self, video_id: str | None = None) -> list[dict[str, Any]]:
        """The current decision per sentence (of one video or all), in video / sentence order.

        Keys: sentence_id, video_id, status, alignable, start, end, reason, curator, decided_at,
        version. Skipped sentences are included with alignable None: readers ignore them.
        """
        return self.query_dicts(
            'SELECT l.sentence_id, s.video_id, l.status, l.alignable, l.start, l."end",'
            " l.reason, l.curator, l.decided_at, l.version"
            " FROM labels l JOIN sentences s USING (sentence_id)"
            " WHERE (? IS NULL OR s.video_id = ?) ORDER BY s.video_id, s.idx",
            [video_id, video_id],
        )

    def label_version(self, sentence_id: int) -> int:
        """The version a client must pass as `expected_version` (0 when never decided)."""
        return self._label_state(self.con, sentence_id)[1]

    def label(self, sentence_id: int) -> dict[str, Any] | None:
        """The current label of one sentence (keys `LABEL_FIELDS`), or None when undecided."""
        return self._label_row(self.con, sentence_id)

    def sentence_number(self, sentence_id: int) -> int | None:
        """The sentence's number in its video as curators see it (1-based)."""
        rows = self.query("SELECT idx FROM sentences WHERE sentence_id = ?", [sentence_id])
        return int(rows[0][0]) + 1 if rows else None

    def overwrites_of(self, curator: str, video_id: str, *, limit: int = 5) -> list[dict]:
        """Newest decisions by others that replaced one of `curator`'s in a video: number (1-based),
        curator, created_at, before_value / after_value (dicts)."""
        rows = self.query_dicts(
            "SELECT s.idx + 1 AS number, e.curator, e.created_at, e.before_value, e.after_value"
            " FROM label_events e JOIN sentences s USING (sentence_id)"
            " WHERE s.video_id = ? AND e.curator <> ? AND e.action <> 'undo'"
            " AND json_extract_string(e.before_value, '$.curator') = ?"
            " ORDER BY e.event_id DESC LIMIT ?",
            [video_id, curator, curator, int(limit)],
        )
        for row in rows:
            row["before_value"] = json.loads(row["before_value"] or "null")
            row["after_value"] = json.loads(row["after_value"] or "null")
        return rows

    def label_history(self, sentence_id: int) -> list[dict[str, Any]]:
        """Every `label_events` row of a sentence, oldest first; before/after decoded to dicts."""
        rows = self._events(self.con, sentence_id)
        for row in rows:
            row["before_value"] = json.loads(row["before_value"] or "null")
            row["after_value"] = json.loads(row["after_value"] or "null")
        return rows

    def last_decision_by(self, curator: str, video_id: str | None = None) -> int | None:
        """The sentence of `curator`'s newest decision that is still standing (for "undo last")."""
        rows = self.query(
            "SELECT e.sentence_id FROM label_events e JOIN sentences s USING (sentence_id)"
            " WHERE e.curator = ? AND e.action <> 'undo' AND (? IS NULL OR s.video_id = ?)"
            " ORDER BY e.event_id DESC LIMIT 50",
            [curator, video_id, video_id],
        )
        for (sentence_id,) in rows:
            standing = _standing_events(self._events(self.con, sentence_id))
            if standing and standing[-1]["curator"] == curator:
                return int(sentence_id)
        return None

    def session_view(self):
        """A shallow copy of this store with its own cursor: one per Streamlit session/thread."""
        view = copy.copy(self)
        view.con = self.con.cursor()
        return view

    # -- claims ------------------------------------------------------------------------------
    def claim_video(self, video_id: str, *, curator: str, ttl_s: float = CLAIM_TTL_S) -> str | None:
        """Take (or refresh) `curator`'s claim on a video for `ttl_s` seconds.

        Returns the name of another curator whose claim has not expired (and then takes
        nothing), else None. Claims are advisory: they warn, the version check protects writes.
        """
        curator = _check_curator(curator)

        def write() -> str | None:
            with self.transaction() as con:
                row = con.execute(
                    "SELECT curator FROM claims WHERE video_id = ?"
                    " AND expires_at > CAST(now() AS TIMESTAMP)",
                    [video_id],
                ).fetchone()
                if row is not None and row[0] != curator:
                    return str(row[0])
                con.execute(
                    "INSERT OR REPLACE INTO claims (video_id, curator, expires_at)"
                    " VALUES (?, ?, CAST(now() AS TIMESTAMP) + to_seconds(?))",
                    [video_id, curator, float(ttl_s)],
                )
                return None

        return self.retry_on_conflict(write, lock=("claim", video_id))

    def release_claim(self, video_id: str, *, curator: str) -> None:
        self.con.execute(
            "DELETE FROM claims WHERE video_id = ? AND curator = ?", [video_id, curator]
        )

    def active_claims(self) -> dict[str, str]:
        """video_id -> curator for claims that have not expired."""
        rows = self.query(
            "SELECT video_id, curator FROM claims WHERE expires_at > CAST(now() AS TIMESTAMP)"
        )
        return {str(v): str(c) for v, c in rows}

    # -- queue --------------------------------------------------------------------------------
    def video_progress(self) -> list[dict[str, Any]]:
        """Per video: n_sentences, n_reviewed (decided, not skipped), claimed_by (who is on it
        now: a live claim or presence in the review app, comma-separated); by video id."""
        from aligner.store.curators import PRESENCE_TTL_S

        return self.query_dicts(
            "WITH here AS (SELECT video_id, curator FROM claims"
            "  WHERE expires_at > CAST(now() AS TIMESTAMP) UNION SELECT video_id, curator"
            "  FROM presence WHERE seen_at > CAST(now() AS TIMESTAMP) - to_seconds(?)),"
            " who AS (SELECT video_id, string_agg(curator, ', ' ORDER BY curator) AS claimed_by"
            "  FROM here GROUP BY video_id)"
            " SELECT v.video_id, v.duration, count(s.sentence_id) AS n_sentences,"
            " count(l.sentence_id) FILTER (WHERE l.status <> 'skipped') AS n_reviewed,"
            " any_value(w.claimed_by) AS claimed_by"
            " FROM videos v LEFT JOIN sentences s USING (video_id)"
            " LEFT JOIN labels l USING (sentence_id) LEFT JOIN who w ON w.video_id = v.video_id"
            " WHERE v.status = 'ok' GROUP BY v.video_id, v.duration ORDER BY v.video_id",
            [PRESENCE_TTL_S],
        )

    def review_queue(
        self, run_id: str | None, *, limit: int = 50, video_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The "next most doubtful" sentences: undecided first, then by `doubt` (0..1) falling.

        doubt = mean of: alignability near 0.5; joint vs dual disagreement (alignability, or
        peaks up to `PEAK_SCALE_S` apart); predicted centre vs ASR centre (up to `GAP_SCALE_S`).
        Rows as `review_rows`. The doubt of a run is computed once (`review_doubt`).
        """
        if run_id is None:
            top = self.query(
                "SELECT s.sentence_id FROM sentences s LEFT JOIN labels l USING (sentence_id)"
                " WHERE (? IS NULL OR s.video_id = ?)"
                " ORDER BY (l.status IS NOT NULL AND l.status <> 'skipped'), s.video_id, s.idx"
                " LIMIT ?",
                [video_id, video_id, int(limit)],
            )
        else:
            self._refresh_doubt(run_id)
            floor = self._doubt_floor(run_id, video_id, int(limit))
            top = self.query(
                "SELECT d.sentence_id FROM review_doubt d LEFT JOIN labels l USING (sentence_id)"
                " WHERE d.run_id = ? AND (? IS NULL OR d.video_id = ?) AND d.doubt >= ?"
                " ORDER BY (l.status IS NOT NULL AND l.status <> 'skipped'), d.doubt DESC,"
                " d.video_id, d.idx LIMIT ?",
                [run_id, video_id, video_id, floor, int(limit)],
            )
        ids = [int(row[0]) for row in top]
        rows = self.query_dicts(_ROWS_OF_IDS_SQL, [PEAK_SCALE_S, GAP_SCALE_S, ids, run_id, ids])
        order = {sid: i for i, sid in enumerate(ids)}
        return sorted(rows, key=lambda r: order[r["sentence_id"]])

    def _doubt_floor(self, run_id: str, video_id: str | None, limit: int) -> float:
        """A doubt below which no sentence can reach the queue's first `limit` rows, so the
        4-key sort runs over a few rows instead of the whole run (1.35 s at 10M sentences).

        Take k = limit + every decided label: among the k most doubtful sentences at most that
        many are decided, so at least `limit` undecided ones have a doubt >= the k-th doubt,
        and every row the full ordering would put first does too. Fewer than k rows: no floor."""
        decided = self.query(
            "SELECT count(*) FROM labels WHERE status IS NOT NULL AND status <> 'skipped'"
        )[0][0]
        kth = self.query(
            "SELECT doubt FROM review_doubt WHERE run_id = ? AND (? IS NULL OR video_id = ?)"
            " ORDER BY doubt DESC LIMIT 1 OFFSET ?",
            [run_id, video_id, video_id, max(limit + int(decided) - 1, 0)],
        )
        return float(kth[0][0]) if kth else float("-inf")

    def _refresh_doubt(self, run_id: str) -> None:
        """(Re)compute `review_doubt` for a run when its prediction count changed."""
        cached, predicted = self.query(
            "SELECT (SELECT count(*) FROM review_doubt WHERE run_id = ?),"
            " (SELECT count(*) FROM predictions WHERE run_id = ?)",
            [run_id, run_id],
        )[0]
        if cached == predicted:
            return

        def write() -> None:  # two sessions may race here on a new run: retried, self-healing
            with self.transaction() as con:
                con.execute("DELETE FROM review_doubt WHERE run_id = ?", [run_id])
                con.execute(
                    "INSERT INTO review_doubt SELECT ?, sentence_id, video_id, idx, doubt"
                    f" FROM ({_ROWS_SQL}) WHERE alignability IS NOT NULL",
                    [run_id, PEAK_SCALE_S, GAP_SCALE_S, run_id],
                )

        self.retry_on_conflict(write, lock=("doubt", run_id))

    def review_rows(self, video_id: str, run_id: str | None) -> list[dict[str, Any]]:
        """Every sentence of a video with its prediction (of `run_id`) and current label."""
        return self.query_dicts(
            f"SELECT * FROM ({_ROWS_SQL}) WHERE video_id = ? ORDER BY idx",
            [PEAK_SCALE_S, GAP_SCALE_S, run_id, video_id],
        )

    def desk_rows(self, video_id: str, run_id: str | None) -> list[dict[str, Any]]:
        """`review_rows` without the doubt score: what the review desk reloads per decision."""
        return self.query_dicts(
            "WITH s AS (SELECT * FROM sentences WHERE video_id = ?),"
            " ev AS (SELECT sentence_id, max(version) AS version FROM label_events"
            "  WHERE sentence_id IN (SELECT sentence_id FROM s) GROUP BY sentence_id)"
            " SELECT s.sentence_id, s.video_id, s.idx, s.text, s.start AS asr_start,"
            ' s."end" AS asr_end, p.alignability, p.start AS pred_start, p."end" AS pred_end,'
            ' l.status, l.alignable, l.start AS label_start, l."end" AS label_end, l.reason,'
            " l.curator, coalesce(l.version, ev.version, 0) AS version,"
            " CASE WHEN l.status IS NULL OR l.status = 'skipped' THEN 0 ELSE 1 END AS decided"
            " FROM s LEFT JOIN predictions p ON p.sentence_id = s.sentence_id AND p.run_id = ?"
            " LEFT JOIN labels l ON l.sentence_id = s.sentence_id"
            " LEFT JOIN ev ON ev.sentence_id = s.sentence_id ORDER BY s.idx",
            [video_id, run_id],
        )

    # -- stats --------------------------------------------------------------------------------
    def curator_counts(self) -> list[dict[str, Any]]:
        """Per curator: current labels by status, and all events (undo included)."""
        return self.query_dicts(
            "SELECT e.curator, count(*) AS events,"
            " count(*) FILTER (WHERE e.action = 'undo') AS undos,"
            " (SELECT count(*) FROM labels l WHERE l.curator = e.curator"
            "  AND l.status <> 'skipped') AS current_labels"
            " FROM label_events e GROUP BY e.curator ORDER BY e.curator"
        )

    def labelled_predictions(self, run_id: str | None) -> list[dict[str, Any]]:
        """Decided labels (not skipped) joined with their prediction in `run_id` and ASR times."""
        return self.query_dicts(
            "SELECT * FROM (" + _ROWS_SQL + ") WHERE status IS NOT NULL AND status <> 'skipped'"
            " ORDER BY video_id, idx",
            [PEAK_SCALE_S, GAP_SCALE_S, run_id],
        )

    def standing_decisions(self, *, exclude_events: set[int] | None = None) -> list[dict[str, Any]]:
        """Each curator's own standing decision per sentence (skips left out), from the history.

        What curator-vs-curator agreement compares: a decision survives until undone. Events in
        `exclude_events` are read as if they never happened (an adjudicator's resolutions).
        """
        rows = self.query_dicts(
            "SELECT event_id, sentence_id, curator, action, after_value FROM label_events"
            " ORDER BY sentence_id, event_id"
        )
        if exclude_events:
            rows = [r for r in rows if r["event_id"] not in exclude_events]
        by_sentence: dict[int, list[dict]] = {}
        for row in rows:
            by_sentence.setdefault(row["sentence_id"], []).append(row)
        out: dict[tuple[int, str], dict] = {}
        for sentence_id, events in by_sentence.items():
            for event in _standing_events(events):
                value = json.loads(event["after_value"] or "null")
                if event["action"] != "skip" and value is not None:
                    out[(sentence_id, event["curator"])] = {
                        "sentence_id": sentence_id, "curator": event["curator"],
                        "alignable": value["alignable"], "start": value["start"],
                        "end": value["end"], "reason": value.get("reason"),
                        "event_id": event["event_id"],
                    }  # fmt: skip
        return list(out.values())

    # -- helpers ----------------------------------------------------------------------------
    def _decision_value(self, sentence_id, action, alignable, start, end, reason) -> dict:
        sentence = self.query(
            'SELECT start, "end" FROM sentences WHERE sentence_id = ?', [sentence_id]
        )
        if not sentence:
            raise AlignerError(f"sentence {sentence_id} does not exist in the store")
        status = ACTIONS[action]
        if action == "skip":
            return {"status": status, "alignable": None, "start": None, "end": None, "reason": None}
        if action == "not_alignable" or (action == "accept" and alignable is False):
            reason = reason or "other"
            if reason not in REASONS:
                raise AlignerError(f"unknown reason {reason!r} (one of {', '.join(REASONS)})")
            return {"status": status, "alignable": False, "start": None, "end": None,
                    "reason": reason}  # fmt: skip
        if start is None or end is None:
            if action == "correct":
                raise AlignerError(f"sentence {sentence_id}: a correction needs start and end")
            start, end = self._predicted_window(sentence_id) or sentence[0]
        start, end = round(float(start), 3), round(float(end), 3)
        if not 0 <= start < end:
            raise AlignerError(
                f"sentence {sentence_id}: start {start} s must be >= 0 and before end {end} s"
            )
        return {"status": status, "alignable": True, "start": start, "end": end, "reason": None}

    def _predicted_window(self, sentence_id: int) -> tuple[float, float] | None:
        rows = self.query(
            'SELECT p.start, p."end" FROM predictions p JOIN runs r USING (run_id)'
            " WHERE p.sentence_id = ? AND r.status = 'done'"
            " ORDER BY (r.model = 'tan') DESC, r.created_at DESC LIMIT 1",
            [sentence_id],
        )
        return (float(rows[0][0]), float(rows[0][1])) if rows else None

    @staticmethod
    def _label_row(con, sentence_id: int) -> dict | None:
        cur = con.execute(
            'SELECT status, alignable, start, "end", reason, curator, decided_at, version'
            " FROM labels WHERE sentence_id = ?",
            [sentence_id],
        )
        row = cur.fetchone()
        return None if row is None else dict(zip(LABEL_FIELDS, row, strict=True))

    def _label_state(self, con, sentence_id: int) -> tuple[dict | None, int]:
        """(current label or None, current version); the version survives an undo to nothing."""
        label = self._label_row(con, sentence_id)
        if label is not None:
            return label, int(label["version"])
        row = con.execute(
            "SELECT coalesce(max(version), 0) FROM label_events WHERE sentence_id = ?",
            [sentence_id],
        ).fetchone()
        return None, int(row[0])

    @staticmethod
    def _events(con, sentence_id: int) -> list[dict[str, Any]]:
        cur = con.execute(
            "SELECT event_id, sentence_id, curator, created_at, action, before_value,"
            " after_value, version FROM label_events WHERE sentence_id = ? ORDER BY event_id",
            [sentence_id],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _check_curator(curator: str) -> str:
    curator = (curator or "").strip()
    if not curator:
        raise AlignerError("a curator name is required for every decision")
    return curator


def _check_version(con, sentence_id: int, expected: int | None, current: int, label) -> None:
    if expected is None or int(expected) == current:
        return
    who = f" ({label['curator']})" if label else ""
    raise StaleWriteError(
        f"{sentence_as_seen(con, sentence_id)} was changed by someone else{who} since you opened"
        f" it (now version {current}, you saw version {expected}); nothing was saved: look at"
        " it again and decide"
    )


def sentence_as_seen(con, sentence_id: int) -> str:
    """How a curator knows a sentence: 'sentence 3 of video abc ("Crack the eggs…")' (1-based)."""
    row = con.execute(
        "SELECT video_id, idx, text FROM sentences WHERE sentence_id = ?", [sentence_id]
    ).fetchone()
    if row is None:
        return f"a sentence that no longer exists (id {sentence_id})"
    video_id, idx, text = row
    words = str(text).split()
    snippet = " ".join(words[:SNIPPET_WORDS]) + ("…" if len(words) > SNIPPET_WORDS else "")
    return f'sentence {int(idx) + 1} of video {video_id} ("{snippet}")'


def _standing_events(events: list[dict]) -> list[dict]:
    """Decision events not cancelled by a later undo: each undo pops the newest one."""
    stack: list[dict] = []
    for event in events:
        if event["action"] == "undo":
            if stack:
                stack.pop()
        else:
            stack.append(event)
    return stack


def _append_event(con, sentence_id, curator, action, before, after, version) -> None:
    con.execute(
        "INSERT INTO label_events (sentence_id, curator, action, before_value, after_value,"
        " version) VALUES (?, ?, ?, ?, ?, ?)",
        [sentence_id, curator, action, _to_json(before), _to_json(after), version],
    )


def _to_json(value: dict | None) -> str | None:
    if value is None:
        return None
    return json.dumps(
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in value.items()},
        sort_keys=True,
    )


# One row per sentence: ASR times, the prediction of run `?` (may be NULL), the current label,
# `decided` (0/1) and `doubt` (0..1). Parameters: PEAK_SCALE_S, GAP_SCALE_S, run_id.
_ROWS_SQL = """
SELECT s.sentence_id, s.video_id, s.idx, s.text, s.start AS asr_start, s."end" AS asr_end,
       p.alignability, p.start AS pred_start, p."end" AS pred_end, p.peak,
       p.dual_alignability, p.dual_peak,
       l.status, l.alignable, l.start AS label_start, l."end" AS label_end, l.reason,
       l.curator, l.decided_at, coalesce(l.version, (SELECT max(e.version) FROM label_events e
                                WHERE e.sentence_id = s.sentence_id), 0) AS version,
       CASE WHEN l.status IS NULL OR l.status = 'skipped' THEN 0 ELSE 1 END AS decided,
       coalesce((
         (1 - 2 * abs(p.alignability - 0.5))
         + greatest(abs(p.alignability - coalesce(p.dual_alignability, p.alignability)),
                    least(1, abs(p.peak - coalesce(p.dual_peak, p.peak)) / ?))
         + least(1, abs((p.start + p."end") - (s.start + s."end")) / 2 / ?)
       ) / 3, 0) AS doubt
FROM sentences s
LEFT JOIN predictions p ON p.sentence_id = s.sentence_id AND p.run_id = ?
LEFT JOIN labels l ON l.sentence_id = s.sentence_id
"""

# The same rows for a list of sentence ids (the queue's top N; parameters PEAK_SCALE_S,
# GAP_SCALE_S, ids, run_id, ids): both big tables are narrowed to the ids before the joins, so
# the cost stays flat as the store grows (filtering the joined rows afterwards scanned every
# prediction: 0.25 s at 1M sentences vs 0.035 s, benchmarks/bench_store_scale.py).
_IDS = "(SELECT unnest(CAST(? AS BIGINT[])))"
_ROWS_OF_IDS_SQL = _ROWS_SQL.replace(
    "FROM sentences s\n", f"FROM (SELECT * FROM sentences WHERE sentence_id IN {_IDS}) s\n"
).replace(
    "LEFT JOIN predictions p ON p.sentence_id = s.sentence_id AND p.run_id = ?",
    f"LEFT JOIN (SELECT * FROM predictions WHERE run_id = ? AND sentence_id IN {_IDS}) p"
    " ON p.sentence_id = s.sentence_id",
)
assert _ROWS_OF_IDS_SQL.count(_IDS) == 2  # both replacements found their text
