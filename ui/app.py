"""Streamlit entry point: `streamlit run ui/app.py -- DATASET [--db PATH] [--users FILE]
[--settings FILE]` (or `aligner review`).

Sign-in first (`aligner.ui.auth`), then the Queue, Review or Stats page; admins also get the
Adjudicate and Export pages. The sidebar shows names with `st.text`: never rendered as Markdown.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import (
    adjudicate_page,
    auth,
    export_page,
    queue_page,
    review_page,
    search_page,
    state,
    stats_page,
)

RENDERERS = {"Queue": queue_page.render, "Review": review_page.render,
             "Stats": stats_page.render, "Adjudicate": adjudicate_page.render,
             "Export": export_page.render}  # fmt: skip
RENDERERS["Search"] = search_page.render  # issue 15


def _sidebar() -> str:
    with st.sidebar:
        role = " (admin)" if state.is_admin() else ""
        st.text(f"Signed in as {state.curator()}{role}")
        if st.button("Sign out", key="logout"):
            auth.sign_out()
            st.rerun()
        pages = state.PAGES + ("Search",) + (state.ADMIN_PAGES if state.is_admin() else ())
        if st.session_state.get("page") not in pages:  # a new session: back where one was
            had_place = state.store().place(state.curator()) is not None
            st.session_state["page"] = "Review" if had_place else "Queue"
        page = st.radio("Page", pages, key="page")
        st.text(f"Dataset: {state.dataset_path().name}")
        auth.keep_cookie()
    return page


def main() -> None:
    st.set_page_config(page_title="Aligner review", layout="wide")
    # counts whole-page runs (a fragment's rerun does not come here): the browser test checks
    # that decisions never cause one
    st.session_state["_page_runs"] = st.session_state.get("_page_runs", 0) + 1
    if not auth.signed_in():
        auth.sign_in_page()
        return
    page = _sidebar()
    state.show_flash()
    RENDERERS[page]()


# Streamlit runs this file as "__main__"; a multiprocessing spawn child that re-imports it
# (as "__mp_main__", e.g. a feature worker started after AppTest ran in the same process) must not
if __name__ == "__main__":
    main()
