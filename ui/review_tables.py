"""Tables on the Review page: every sentence of the video, and one sentence's history.

Numbers are 1-based, as curators count; text goes into dataframes, which show it verbatim.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from aligner.ui.review_actions import describe


def sentences_table(rows: list[dict], idx: int, *, on_open: Callable[[str, int], None]) -> None:
    """All sentences; selecting a row opens it in the desk (`on_open(video_id, sentence_id)`)."""
    import pandas as pd

    def _select() -> None:
        picked = st.session_state["sentences_table"].selection.rows
        if picked:
            row = rows[int(picked[0])]
            on_open(row["video_id"], row["sentence_id"])

    df = pd.DataFrame(rows)
    df["#"] = df["idx"] + 1
    df["said"] = df["asr_start"].map("{:.1f}".format) + "–" + df["asr_end"].map("{:.1f}".format)
    df["shown"] = [
        f"{a:.1f}–{b:.1f}" if a == a and a is not None else ""
        for a, b in zip(df["pred_start"], df["pred_end"], strict=True)
    ]
    df["status"] = df["status"].fillna("")
    df["curator"] = df["curator"].fillna("")
    df["here"] = ["▶" if i == idx else "" for i in range(len(df))]
    st.dataframe(
        df[["here", "#", "status", "curator", "alignability", "said", "shown", "text"]],
        hide_index=True, key="sentences_table", on_select=_select,
        selection_mode="single-row", height=360,
        column_config={"alignability": st.column_config.NumberColumn(format="%.2f")},
    )  # fmt: skip


def history_table(store, sentence_id: int, number: int) -> None:
    """Every decision on the sentence: who, when, before → after."""
    events = store.label_history(sentence_id)
    st.caption(f"History of sentence #{number}")
    if not events:
        st.caption("No decisions on this sentence yet.")
        return
    st.dataframe(
        [{"when": e["created_at"], "who": e["curator"], "action": e["action"],
          "before": describe(e["before_value"]), "after": describe(e["after_value"]),
          "version": e["version"]} for e in reversed(events)],
        hide_index=True,
    )  # fmt: skip


def text_history_table(store, sentence_id: int) -> None:
    """Every fix of the sentence's words: who, when, before → after (None: the ASR text)."""
    edits = store.text_history(sentence_id)
    if not edits:
        return
    st.caption("Words fixed")
    st.dataframe(
        [{"when": e["created_at"], "who": e["curator"], "edit": e["kind"],
          "before": e["before_text"] or "(ASR)",
          "after": " | ".join(t for t in (e["after_text"], e["second_text"]) if t) or "(ASR)",
          "version": e["version"]} for e in reversed(edits)],
        hide_index=True,
    )  # fmt: skip
