"""`aligner review DATASET`: start the Streamlit review app on a dataset's store.

Runs `streamlit run ui/app.py -- DATASET --db PATH` in this Python. Streamlit's own config files
and `STREAMLIT_*` variables keep working for everything but one setting: usage statistics are
always off (`--browser.gatherUsageStats=false`), since curators' sessions are nobody else's
business and the app must run with no network. `--port` is passed when given.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from aligner.errors import AlignerError
from aligner.workspace import Workspace

# Streamlit options the app always runs with, whatever the user's Streamlit config says
FIXED_OPTIONS = ("--browser.gatherUsageStats=false",)


def app_path() -> Path:
    """The installed app script (the source tree's `ui/app.py`, installed as `aligner.ui`)."""
    spec = importlib.util.find_spec("aligner.ui")
    if spec is None or not spec.submodule_search_locations:
        raise AlignerError(
            "the review app (aligner.ui) is not installed: pip install 'aligner[ui]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def review_command(ws: Workspace, *, port: int | None = None) -> list[str]:
    """The command line that starts the app (without running it)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path()), *FIXED_OPTIONS]
    if port is not None:
        cmd += ["--server.port", str(int(port))]
    return [*cmd, "--", str(ws.dataset), "--db", str(ws.db_path)]


def launch_review(ws: Workspace, *, port: int | None = None) -> int:
    """Run the review app until it is stopped; returns Streamlit's exit code."""
    if importlib.util.find_spec("streamlit") is None:
        raise AlignerError("streamlit is not installed: pip install 'aligner[ui]'")
    from aligner.store import Store

    Store(ws.db_path).close()  # fails here, in one line, when another process holds the file
    try:
        return subprocess.call(review_command(ws, port=port))
    except KeyboardInterrupt:
        return 0
