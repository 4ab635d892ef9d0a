"""Queue page: videos with their progress, and the "next most doubtful" sentences."""

from __future__ import annotations

import streamlit as st
from aligner.ui import state

QUEUE_LENGTH = 50  # sentences listed in the doubtful queue


def open_sentence(video_id: str, sentence_id: int | None = None) -> None:
    """Callback: go to the Review page on `video_id` (at `sentence_id` when given)."""
    st.session_state["video_id"] = video_id
    st.session_state["goto_sentence"] = sentence_id
    st.session_state["page"] = "Review"


def _videos_table(s) -> None:
    import pandas as pd

    progress = s.video_progress()
    st.subheader("Videos")
    if not progress:
        st.info("No videos in the store yet: run `aligner ingest DATASET` first.")
        return
    df = pd.DataFrame(progress)
    df["done"] = df["n_reviewed"] / df["n_sentences"].clip(lower=1)
    df["claimed_by"] = df["claimed_by"].fillna("")
    st.dataframe(
        df[["video_id", "n_reviewed", "n_sentences", "done", "claimed_by"]],
        hide_index=True,
        column_config={
            "done": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
            "n_reviewed": "reviewed",
            "n_sentences": "sentences",
            "claimed_by": "open by",
        },  # fmt: skip
        height=min(400, 38 + 35 * len(df)),
    )
    cols = st.columns([3, 1])
    cols[0].selectbox("Open video", df["video_id"].tolist(), key="queue_video")
    cols[1].button("Open", key="open_video", on_click=_open_picked)


def _open_picked() -> None:
    open_sentence(st.session_state["queue_video"])


def _doubt_table(s, run: dict | None) -> None:
    import pandas as pd

    st.subheader("Next most doubtful")
    if run is None:
        st.caption("No predictions yet: sentences are listed in order.")
    queue = s.review_queue(run["run_id"] if run else None, limit=QUEUE_LENGTH)
    if not queue:
        st.info("No sentences.")
        return
    first = next((q for q in queue if not q["decided"]), None)
    if first is not None:
        st.button(
            "Review the most doubtful sentence (Enter)", key="open_doubtful", type="primary",
            shortcut="Enter", on_click=open_sentence, args=(first["video_id"], first["sentence_id"]),
        )  # fmt: skip
    df = pd.DataFrame(queue)
    df["said"] = df.apply(lambda r: f"{r.asr_start:.1f}–{r.asr_end:.1f}", axis=1)
    df["status"] = df["status"].fillna("")
    df["#"] = df["idx"] + 1
    event = st.dataframe(
        df[["video_id", "#", "doubt", "alignability", "said", "pred_start", "status", "text"]],
        hide_index=True, on_select="rerun", selection_mode="single-row", key="queue_table",
        column_config={"doubt": st.column_config.ProgressColumn("doubt", min_value=0, max_value=1),
                       "alignability": st.column_config.NumberColumn(format="%.2f"),
                       "pred_start": st.column_config.NumberColumn("shown from", format="%.1f")},
    )  # fmt: skip
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if rows:
        row = queue[rows[0]]
        st.button(f"Open the selected sentence (#{row['idx'] + 1})", key="open_selected",
                  on_click=open_sentence, args=(row["video_id"], row["sentence_id"]))  # fmt: skip


def render() -> None:
    st.title("Review queue")
    s = state.store()
    run = state.current_run()
    _videos_table(s)
    _doubt_table(s, run)
