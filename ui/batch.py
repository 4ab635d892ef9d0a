"""Batch actions on the Review page: pick several sentences of the video (the model's
alignability below a threshold and/or a text match) and mark them in one step.

Each sentence gets its own decision (its own `label_events` row), checked against the label
version shown in the preview, so a sentence someone else decided meanwhile is left alone and
reported. Another curator's decision is only replaced when "also replace others' decisions" is
ticked: the batch form's explicit confirm.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import state

from aligner.errors import AlignerError
from aligner.store.review import REASONS

BATCH_ACTIONS = {"not alignable": "not_alignable", "skip": "skip", "accept": "accept"}


def matches(rows: list[dict], *, below: float | None, text: str, undecided_only: bool) -> list:
    """Rows with alignability < `below` (when given) whose text contains `text` (any case)."""
    needle = text.strip().lower()
    out = []
    for r in rows:
        if below is not None and (r["alignability"] is None or r["alignability"] >= below):
            continue
        if needle and needle not in r["text"].lower():
            continue
        if undecided_only and r["decided"]:
            continue
        out.append(r)
    return out


def mark(rows: list[dict], action: str, *, reason: str | None, replace_others: bool) -> str:
    """Record `action` on each row; returns one line saying what happened."""
    s, me = state.store(), state.curator()
    saved, kept = [], []
    for r in rows:
        if r["curator"] not in (None, me) and not replace_others:
            kept.append(r["idx"] + 1)
            continue
        try:
            s.record_decision(r["sentence_id"], action=action, curator=me, reason=reason,
                              expected_version=r["version"])  # fmt: skip
            saved.append(r["idx"] + 1)
        except AlignerError:  # changed meanwhile, or busy: that one is left as it is
            kept.append(r["idx"] + 1)
    line = f"Marked {len(saved)} sentences as {action.replace('_', ' ')}"
    if saved:
        line += ": #" + ", #".join(map(str, saved))
    if kept:
        line += (
            f"; left alone (decided by others or changed meanwhile): #{', #'.join(map(str, kept))}"
        )
    return line


def _mark_clicked(picked: list[dict], action: str, reason: str, replace_others: bool) -> None:
    state.flash("success", mark(picked, action, reason=reason, replace_others=replace_others))


def batch_panel(rows: list[dict]) -> None:
    """The form: filters, a preview of the matching sentences, the action."""
    import pandas as pd

    with st.expander("Batch: mark several sentences at once"):
        c = st.columns([2, 3, 2])
        use_below = c[0].checkbox("alignability below", key="batch_use_below")
        below = c[0].number_input("threshold", 0.0, 1.0, 0.2, 0.05, key="batch_below",
                                  label_visibility="collapsed")  # fmt: skip
        text = c[1].text_input("text contains", key="batch_text")
        undecided_only = c[2].checkbox("only undecided", value=True, key="batch_undecided")
        replace = c[2].checkbox("also replace others' decisions", key="batch_replace")
        if not use_below and not text.strip():
            st.caption("Choose a threshold or a text to pick sentences.")
            return
        picked = matches(rows, below=below if use_below else None, text=text,
                         undecided_only=undecided_only)  # fmt: skip
        if not picked:
            st.caption("No sentence matches.")
            return
        st.dataframe(
            pd.DataFrame([{"#": r["idx"] + 1, "text": r["text"], "alignability": r["alignability"],
                           "status": r["status"] or "", "curator": r["curator"] or ""}
                          for r in picked]),
            hide_index=True, height=min(300, 38 + 35 * len(picked)),
        )  # fmt: skip
        c = st.columns([2, 2, 3])
        label = c[0].selectbox("mark as", list(BATCH_ACTIONS), key="batch_action")
        reason = c[1].selectbox("reason", REASONS, key="batch_reason")
        c[2].button(f"Mark {len(picked)} sentences", key="batch_go", type="primary",
                    on_click=_mark_clicked,
                    args=(picked, BATCH_ACTIONS[label], reason, replace))  # fmt: skip
