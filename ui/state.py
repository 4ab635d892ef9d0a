"""App-wide state: which dataset, the one shared DuckDB connection, per-session cursors, caches.

The dataset and store come from the command line (`streamlit run ui/app.py -- DATASET --db PATH
[--users FILE] [--settings FILE]`) or, for tests, from `ALIGNER_DATASET` / `ALIGNER_DB` /
`ALIGNER_USERS` / `ALIGNER_REVIEW_SETTINGS`. One Streamlit process owns the DuckDB file:
one cached connection (`st.cache_resource`), one cursor per browser session.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import streamlit as st

from aligner.errors import AlignerError
from aligner.store import Store
from aligner.workspace import Workspace, open_workspace

PAGES = ("Queue", "Review", "Stats")
ADMIN_PAGES = ("Adjudicate", "Export")
MAX_VIEWS = 4  # store cursors kept per session (one per script thread that used one)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ui/app.py")
    parser.add_argument("dataset", nargs="?", default=os.environ.get("ALIGNER_DATASET"))
    parser.add_argument("--db", default=os.environ.get("ALIGNER_DB") or None)
    parser.add_argument("--users", default=os.environ.get("ALIGNER_USERS") or None)
    parser.add_argument("--settings", default=os.environ.get("ALIGNER_REVIEW_SETTINGS") or None)
    argv = [] if os.environ.get("ALIGNER_DATASET") else sys.argv[1:]
    args, _ = parser.parse_known_args(argv)
    return args


def _parse_args() -> tuple[str, str | None]:
    args = _args()
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
    """This session's view of the shared store: its own cursor per thread, since a fragment's
    timed rerun can run beside the session's full run (a DuckDB cursor allows one call at once).
    """
    ws = workspace()
    views = st.session_state.setdefault("_stores", {})
    key = (threading.get_ident(), str(ws.db_path))
    view = views.get(key)
    if view is None:
        try:
            shared = _shared_store(str(ws.db_path))
        except AlignerError as err:  # e.g. locked by another aligner process: say so, stop
            st.error(str(err))
            st.stop()
        view = shared.session_view()
        for old in list(views)[: max(0, len(views) - MAX_VIEWS)]:
            views.pop(old).con.close()
        views[key] = view
    st.session_state["_store"] = view
    return view


def curator() -> str:
    """The signed-in identity (empty before sign-in): stored with every decision."""
    return st.session_state.get("curator", "")


def is_admin() -> bool:
    return st.session_state.get("role") == "admin"


def users_file() -> Path:
    from aligner.users import USERS_FILE

    given = _args().users
    return Path(given) if given else workspace().root / USERS_FILE


@st.cache_resource(show_spinner=False)
def _settings(path: str, mtime: float):
    from aligner.ui.settings import load_settings

    return load_settings(Path(path))


def settings():
    """The desk's keyboard map and nudge step (`aligner.ui.settings`)."""
    from aligner.ui.settings import SETTINGS_FILE

    given = _args().settings
    path = Path(given) if given else workspace().root / SETTINGS_FILE
    try:
        return _settings(str(path), path.stat().st_mtime if path.is_file() else 0.0)
    except AlignerError as err:
        st.error(str(err))
        st.stop()


def current_run(*, max_age_s: float = 0.0) -> dict | None:
    """The newest finished TAN run with predictions (any model if there is no TAN run); with
    `max_age_s`, this session's answer from up to that many seconds ago."""
    import time

    cached = st.session_state.get("_run")
    if cached and time.monotonic() - cached[1] < max_age_s:
        return cached[0]
    s = store()
    run = s.latest_run("tan") or s.latest_run(None)
    st.session_state["_run"] = (run, time.monotonic())
    return run


FLASH_ICONS = {"success": "✅", "info": "ℹ️", "warning": "⚠️", "error": "❌"}


def flash(kind: str, message: str) -> None:
    """A message shown once on the next render (success | info | warning | error)."""
    st.session_state["_flash"] = (kind, message)


def show_flash() -> None:
    """As a toast: in a fixed corner, so it never pushes the page down. The text is plain
    (Markdown characters escaped), since it may carry names typed by curators."""
    kind, message = st.session_state.pop("_flash", (None, None))
    if kind:
        st.toast(escape_markdown(message), icon=FLASH_ICONS[kind])


def escape_markdown(text: str) -> str:
    """`text` with every Markdown / HTML special character backslash-escaped: for the few
    Streamlit elements (toasts, labels) that have no plain-text mode."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))


MARKDOWN_SPECIALS = set("\\`*_{}[]()<>#+-.!|~:$&")


def dataset_path() -> Path:
    return workspace().dataset
