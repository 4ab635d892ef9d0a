"""Streamlit entry point: `streamlit run ui/app.py -- DATASET [--db PATH]` (or `aligner review`).

Asks for the curator's name once per session, then shows the Queue, Review or Stats page.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import queue_page, review_page, search_page, state, stats_page

RENDERERS = {"Queue": queue_page.render, "Review": review_page.render, "Stats": stats_page.render}
RENDERERS["Search"] = search_page.render  # issue 15


def _ask_curator() -> None:
    st.title("Aligner review")
    st.write("Who is reviewing? Your name is stored with every decision.")
    with st.form("who"):
        name = st.text_input(
            "Your name", key="curator_name", value=st.query_params.get("curator", "")
        )
        if st.form_submit_button("Start reviewing") and name.strip():
            st.session_state["curator"] = name.strip()
            st.query_params["curator"] = name.strip()
            st.rerun()


def _sidebar() -> str:
    with st.sidebar:
        st.text(f"Curator: {state.curator()}")
        if st.button("Change name", key="logout"):
            st.session_state.pop("curator", None)
            st.rerun()
        page = st.radio("Page", list(RENDERERS), key="page")
        st.text(f"Dataset: {state.dataset_path().name}")
    return page


def main() -> None:
    st.set_page_config(page_title="Aligner review", layout="wide")
    if not state.curator():
        _ask_curator()
        return
    page = _sidebar()
    state.show_flash()
    RENDERERS[page]()


main()
