"""Adjudicate page (admins): sentences where curators disagree, side by side; pick the answer.

Each resolution is the admin's own decision (with history) plus an `adjudications` row; the
Stats page counts open and resolved disagreements from it. Names and text are shown verbatim
(dataframe cells and `st.text`).
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import state
from aligner.ui.review_actions import describe

from aligner.errors import AlignerError


def _decision(d: dict) -> str:
    return describe({"status": "accepted" if d["alignable"] else "not_alignable", **d})


def _resolve(sentence_id: int, chosen: str, number: int) -> None:
    try:
        state.store().adjudicate(sentence_id, chosen=chosen, admin=state.curator())
    except AlignerError as err:
        state.flash("error", f"Not resolved: {err}")
        return
    state.flash("success", f"Resolved #{number}: took {chosen}'s decision")


def _one(row: dict) -> None:
    with st.container(border=True, key=f"dis_{row['sentence_id']}"):
        st.text(f"{row['video_id']} #{row['number']}: {row['text']}")
        curators = sorted(row["decisions"])
        cols = st.columns(len(curators))
        for col, name in zip(cols, curators, strict=True):
            col.text(f"{name}: {_decision(row['decisions'][name])}")
            col.button("Take this", key=f"take_{row['sentence_id']}_{curators.index(name)}",
                       on_click=_resolve, args=(row["sentence_id"], name, row["number"]))  # fmt: skip


def render() -> None:
    st.title("Adjudicate")
    if not state.is_admin():
        st.info("Only an admin can adjudicate.")
        return
    rows = state.store().disagreements()
    counts = state.store().adjudication_counts()
    st.caption(f"{counts['open']} open disagreements, {counts['resolved']} resolved")
    if not rows:
        st.info("No open disagreements between curators.")
        return
    for row in rows:
        _one(row)
