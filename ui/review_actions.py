"""What the Review page's buttons do: decisions, undo, navigation, boundary edits.

All run as Streamlit `on_click` callbacks, before the next render, so the page shown afterwards
already reflects them. Every write passes the label version the curator saw: a decision made by
someone else in between is reported, never silently overwritten.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import state

from aligner.errors import AlignerError

NUDGES_S = (-1.0, -0.5, 0.5, 1.0)  # boundary nudges offered next to start and end
MIN_SPAN_S = 0.1  # a corrected window is at least this long


def edit_window() -> tuple[float, float]:
    return float(st.session_state["edit_start"]), float(st.session_state["edit_end"])


def reset_edit(row: dict) -> None:
    """Start editing `row`: its label's window, else the prediction, else the ASR window."""
    if row["label_start"] is not None:
        start, end = row["label_start"], row["label_end"]
    elif row["pred_start"] is not None:
        start, end = row["pred_start"], row["pred_end"]
    else:
        start, end = row["asr_start"], row["asr_end"]
    st.session_state["edit_start"] = round(float(start), 1)
    st.session_state["edit_end"] = round(float(end), 1)
    st.session_state["edit_sid"] = row["sentence_id"]


def set_boundary(which: str, t: float) -> None:
    """Set start or end to `t` (s, 0.1 s precision), keeping start < end."""
    t = round(max(0.0, float(t)), 1)
    start, end = edit_window()
    if which == "start":
        start = t
        end = max(end, round(t + MIN_SPAN_S, 1))
    else:
        end = max(t, MIN_SPAN_S)
        start = min(start, round(end - MIN_SPAN_S, 1))
    st.session_state["edit_start"], st.session_state["edit_end"] = start, end


def nudge(which: str, delta: float) -> None:
    start, end = edit_window()
    set_boundary(which, (start if which == "start" else end) + delta)


def go_to(idx: int, n: int) -> None:
    st.session_state["idx"] = max(0, min(int(idx), n - 1))


def next_undecided(rows: list[dict], idx: int, *, include_current: bool = True) -> bool:
    """Go to the first undecided sentence after `idx` (wrapping round); False when none."""
    order = list(range(idx + 1, len(rows))) + list(range(0, idx + int(include_current)))
    for i in order:
        if not rows[i]["decided"]:
            go_to(i, len(rows))
            return True
    state.flash("info", "Every sentence of this video is decided.")
    return False


def decide(action: str, row: dict, rows: list[dict]) -> None:
    """Record `action` on `row` (with the version shown), then go to the next undecided one."""
    s = state.store()
    kwargs: dict = {}
    if action == "correct":
        kwargs["start"], kwargs["end"] = edit_window()
    elif action == "not_alignable":
        kwargs["reason"] = st.session_state.get("reason", "other")
    try:
        s.record_decision(
            row["sentence_id"], action=action, curator=state.curator(),
            expected_version=row["version"], **kwargs,
        )  # fmt: skip
    except AlignerError as err:  # StaleWriteError, StoreBusyError: nothing was written
        state.flash("error", f"Not saved: {err}")
        return
    idx = next(i for i, r in enumerate(rows) if r["sentence_id"] == row["sentence_id"])
    saved = f"Saved #{row['idx']}: {action.replace('_', ' ')}"
    if next_undecided(rows, idx, include_current=False):
        state.flash("success", saved)
    else:  # the flash says all are decided; keep the saved message too
        state.flash("success", f"{saved}. Every sentence of this video is decided.")


def undo(video_id: str, rows: list[dict]) -> None:
    """Undo this curator's newest standing decision in the video and go back to it."""
    s = state.store()
    sentence_id = s.last_decision_by(state.curator(), video_id)
    if sentence_id is None:
        state.flash("info", "Nothing of yours to undo in this video.")
        return
    s.undo_last(sentence_id, curator=state.curator())
    idx = next(i for i, r in enumerate(rows) if r["sentence_id"] == sentence_id)
    go_to(idx, len(rows))
    st.session_state.pop("edit_sid", None)  # reload the restored window into the editor
    state.flash("info", f"Undid your last decision on #{rows[idx]['idx']}.")
