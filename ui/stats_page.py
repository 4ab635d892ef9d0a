"""Stats page: who reviewed what, model-vs-curator and curator-vs-curator agreement, offsets."""

from __future__ import annotations

import streamlit as st
from aligner.ui import state

from aligner.agreement import curator_agreement, model_agreement

OFFSET_BIN_S = 1.0  # histogram bin width of said -> shown offsets, seconds


def _fmt(value, spec: str = ".2f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


def _counts(s) -> None:
    import pandas as pd

    st.subheader("Reviewed")
    per_curator = pd.DataFrame(s.curator_counts())
    per_video = pd.DataFrame(s.video_progress())
    cols = st.columns(2)
    if per_curator.empty:
        cols[0].caption("No decisions yet.")
    else:
        cols[0].caption("Current labels per curator")
        cols[0].bar_chart(per_curator.set_index("curator")["current_labels"], height=220)
        cols[0].dataframe(per_curator, hide_index=True)
    if not per_video.empty:
        cols[1].caption("Reviewed / total sentences per video")
        cols[1].bar_chart(per_video.set_index("video_id")[["n_reviewed", "n_sentences"]],
                          height=220, stack=False)  # fmt: skip


def model_vs_curator(labelled: list[dict], run: dict | None) -> dict:
    """Agreement numbers of the current run against the curators' labels (shown + returned).

    `labelled` is `store.labelled_predictions(run_id)` of that run.
    """
    st.subheader("Model vs curators")
    if run is None:
        st.caption("No predictions yet.")
        return {}
    numbers = model_agreement(labelled)
    c = st.columns(5)
    c[0].metric("Labels compared", numbers["n_labels"])
    c[1].metric("R@1", _fmt(numbers["r_at_1"]))
    c[2].metric("ROC-AUC", _fmt(numbers["roc_auc"]))
    c[3].metric("Boundary error", _fmt(numbers["boundary_error_s"], ".2f", " s"))
    c[4].metric("Temporal IoU", _fmt(numbers["iou"]))
    st.caption(f"run {run['run_id']}; R@1 and IoU over the {numbers['n_alignable']} labels with"
               " a window, ROC-AUC over all alignable / not-alignable labels")  # fmt: skip
    return numbers


def curator_vs_curator(s) -> dict:
    st.subheader("Curator vs curator")
    numbers = curator_agreement(s.curator_decisions())  # adjudications' own decisions left out
    disputes = s.adjudication_counts()
    c = st.columns(6)
    c[0].metric("Sentences with 2+ curators", numbers["n_sentences"])
    c[1].metric("Alignability kappa", _fmt(numbers["kappa"]))
    c[2].metric("Boundary error", _fmt(numbers["boundary_error_s"], ".2f", " s"))
    c[3].metric("Temporal IoU", _fmt(numbers["iou"]))
    c[4].metric("Open disagreements", disputes["open"])
    c[5].metric("Resolved", disputes["resolved"])
    return {**numbers, **disputes}


def _offsets(labelled: list[dict]) -> None:
    import numpy as np
    import pandas as pd

    st.subheader("Said → shown offsets")
    offsets = [r["label_start"] - r["asr_start"] for r in labelled if r["label_start"] is not None]
    if not offsets:
        st.caption("No labelled windows yet.")
        return
    lo, hi = np.floor(min(offsets)), np.ceil(max(offsets)) + OFFSET_BIN_S
    counts, edges = np.histogram(offsets, bins=np.arange(lo, hi + 1e-9, OFFSET_BIN_S))
    st.bar_chart(pd.DataFrame({"offset (s)": edges[:-1], "sentences": counts}),
                 x="offset (s)", y="sentences", height=240)  # fmt: skip
    st.caption(f"{len(offsets)} labelled windows: shown start minus said start; median "
               f"{float(np.median(offsets)):+.1f} s")  # fmt: skip


def render() -> None:
    st.title("Review statistics")
    s = state.store()
    run = state.current_run()
    labelled = s.labelled_predictions(run["run_id"] if run else None)  # read once, used twice
    _counts(s)
    model_vs_curator(labelled, run)
    curator_vs_curator(s)
    _offsets(labelled)
