"""App-wide state: which dataset, the one shared DuckDB connection, per-session cursors, caches.

The dataset and store come from the command line (`streamlit run ui/app.py -- DATASET --db PATH`)
or, for tests, from `ALIGNER_DATASET` / `ALIGNER_DB`. One Streamlit process owns the DuckDB file:
one cached connection (`st.cache_resource`), one cursor per browser session.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import streamlit as st

from aligner.errors import AlignerError
from aligner.store import Store
from aligner.workspace import Workspace, open_workspace

PAGES = ("Queue", "Review", "Stats")


def _parse_args() -> tuple[str, str | None]:
    if os.environ.get("ALIGNER_DATASET"):
        return os.environ["ALIGNER_DATASET"], os.environ.get("ALIGNER_DB") or None
    parser = argparse.ArgumentParser(prog="ui/app.py")
    parser.add_argument("dataset")
    parser.add_argument("--db", default=None)
    args, _ = parser.parse_known_args()
    return args.dataset, args.db


@st.cache_resource(show_spinner=False)
def _workspace(dataset: str, db: str | None) -> Workspace:
    return open_workspace(dataset, db)


@st.cache_resource(show_spinner=False)
def _shared_store(db_path: str) -> Store:
    return Store(db_path)


def workspace() -> Workspace:
    return _workspace(*_parse_args())


def store() -> Store:
    """This session's view of the shared store (its own cursor, so sessions never share one)."""
    ws = workspace()
    view = st.session_state.get("_store")
    if view is None or view.path != ws.db_path:
        try:
            shared = _shared_store(str(ws.db_path))
        except AlignerError as err:  # e.g. locked by another aligner process: say so, stop
            st.error(str(err))
            st.stop()
        view = shared.session_view()
        st.session_state["_store"] = view
    return view


def curator() -> str:
    return st.session_state.get("curator", "")


def current_run() -> dict | None:
    """The newest finished TAN run with predictions (any model if there is no TAN run)."""
    s = store()
    return s.latest_run("tan") or s.latest_run(None)


def flash(kind: str, message: str) -> None:
    """A message shown once at the top of the next render (success | info | warning | error)."""
    st.session_state["_flash"] = (kind, message)


def show_flash() -> None:
    """Always one slot (empty or not), so the elements below keep their place: otherwise the
    player and frame strip would be re-created, and the video reloaded, after every decision."""
    slot = st.empty()
    kind, message = st.session_state.pop("_flash", (None, None))
    if kind:
        getattr(slot, kind)(message)


def dataset_path() -> Path:
    return workspace().dataset
