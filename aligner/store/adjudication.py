"""Disagreements between curators and an admin's resolution of them.

Two curators disagree on a sentence when their standing decisions differ in alignability, or
in a boundary by more than `DISAGREE_S`. A resolution takes one curator's decision: it is
written as the admin's own decision (a `label_events` row like any other) and remembered in
`adjudications`; a later decision by a curator on that sentence opens it again.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

DISAGREE_S = 1.0  # boundaries further apart than this (seconds) are a disagreement


def _differ(a: dict, b: dict) -> bool:
    if a["alignable"] != b["alignable"]:
        return True
    if not a["alignable"] or a["start"] is None or b["start"] is None:
        return False
    return abs(a["start"] - b["start"]) > DISAGREE_S or abs(a["end"] - b["end"]) > DISAGREE_S


class AdjudicationQueries:
    def curator_decisions(self) -> list[dict[str, Any]]:
        """Curators' standing decisions, the decisions written by adjudications left out."""
        resolved = {int(e) for (e,) in self.query("SELECT event_id FROM adjudications")}
        return self.standing_decisions(exclude_events=resolved)

    def disagreements(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Sentences where curators' standing decisions differ: sentence_id, video_id, number
        (1-based), text, decisions {curator: {alignable, start, end}}, resolved_by, chosen."""
        by_sentence: dict[int, dict[str, dict]] = {}
        for d in self.curator_decisions():
            by_sentence.setdefault(d["sentence_id"], {})[d["curator"]] = d
        ids = [sid for sid, ds in by_sentence.items()
               if any(_differ(a, b) for a, b in combinations(ds.values(), 2))]  # fmt: skip
        if not ids:
            return []
        rows = self.query_dicts(
            "SELECT s.sentence_id, s.video_id, s.idx + 1 AS number, s.text, a.resolved_by,"
            " a.chosen, a.event_id AS resolution_event,"
            " (SELECT max(e.event_id) FROM label_events e WHERE e.sentence_id = s.sentence_id"
            "  AND e.event_id <> coalesce(a.event_id, -1)) AS last_event"
            " FROM sentences s LEFT JOIN adjudications a USING (sentence_id)"
            " WHERE list_contains(?, s.sentence_id) ORDER BY s.video_id, s.idx",
            [ids],
        )
        out = []
        for row in rows:
            open_ = row["resolution_event"] is None or row["last_event"] > row["resolution_event"]
            if open_ or include_resolved:
                row["open"] = open_
                row["decisions"] = by_sentence[row["sentence_id"]]
                out.append(row)
        return out

    def adjudicate(self, sentence_id: int, *, chosen: str, admin: str) -> int:
        """Take curator `chosen`'s standing decision on a sentence as the answer; returns the
        new label version."""
        from aligner.errors import AlignerError

        decision = next((d for d in self.curator_decisions()
                         if d["sentence_id"] == sentence_id and d["curator"] == chosen), None)  # fmt: skip
        if decision is None:
            raise AlignerError(f"{chosen} has no standing decision on this sentence")
        if decision["alignable"]:
            version = self.record_decision(sentence_id, action="correct", curator=admin,
                                           start=decision["start"], end=decision["end"])  # fmt: skip
        else:
            version = self.record_decision(sentence_id, action="not_alignable", curator=admin,
                                           reason=decision.get("reason") or "other")  # fmt: skip
        event = self.query(
            "SELECT max(event_id) FROM label_events WHERE sentence_id = ?", [sentence_id]
        )[0][0]
        self.retry_on_conflict(
            lambda: self.con.execute(
                "INSERT OR REPLACE INTO adjudications (sentence_id, resolved_by, chosen, event_id)"
                " VALUES (?, ?, ?, ?)",
                [sentence_id, admin, chosen, int(event)],
            )
        )
        return version

    def adjudication_counts(self) -> dict[str, int]:
        """{"open": n, "resolved": n} disagreements."""
        rows = self.disagreements(include_resolved=True)
        n_open = sum(r["open"] for r in rows)
        return {"open": n_open, "resolved": len(rows) - n_open}
