"""Tables on the Review page: every sentence of the video, and one sentence's history."""

from __future__ import annotations

import streamlit as st


def _select_row() -> None:
    rows = st.session_state["sentences_table"].selection.rows
    if rows:
        st.session_state["idx"] = int(rows[0])


def sentences_table(rows: list[dict], idx: int) -> None:
    """All sentences; selecting a row opens it."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["said"] = df["asr_start"].map("{:.1f}".format) + "–" + df["asr_end"].map("{:.1f}".format)
    df["shown"] = [
        f"{a:.1f}–{b:.1f}" if a == a and a is not None else ""
        for a, b in zip(df["pred_start"], df["pred_end"], strict=True)
    ]
    df["status"] = df["status"].fillna("")
    df["here"] = ["▶" if i == idx else "" for i in range(len(df))]
    st.dataframe(
        df[["here", "idx", "status", "alignability", "said", "shown", "text"]],
        hide_index=True, key="sentences_table", on_select=_select_row,
        selection_mode="single-row", height=360,
        column_config={"alignability": st.column_config.NumberColumn(format="%.2f")},
    )  # fmt: skip


def _describe(value: dict | None) -> str:
    if value is None:
        return "(none)"
    text = value["status"].replace("_", " ")
    if value.get("start") is not None:
        text += f" {value['start']:.1f}–{value['end']:.1f} s"
    if value.get("reason"):
        text += f" ({value['reason']})"
    return text


def history_table(store, sentence_id: int) -> None:
    """Every decision on the sentence: who, when, before → after."""
    events = store.label_history(sentence_id)
    if not events:
        st.caption("No decisions on this sentence yet.")
        return
    st.dataframe(
        [{"when": e["created_at"], "who": e["curator"], "action": e["action"],
          "before": _describe(e["before_value"]), "after": _describe(e["after_value"]),
          "version": e["version"]} for e in reversed(events)],
        hide_index=True,
    )  # fmt: skip
