"""`aligner review` for real: the Streamlit server starts on a free port, answers its health
check, serves nothing outside the dataset, collects no usage statistics, and stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, require
from tests.faults import descendants

START_TIMEOUT_S = 60
USAGE_STATS_OFF = "--browser.gatherUsageStats=false"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    require("streamlit", "'aligner[ui]'")
    from aligner.ui.demo_data import make_demo_dataset

    root = tmp_path_factory.mktemp("launch") / "demo"
    make_demo_dataset(root, n_videos=1, duration_s=10.0, sentences_per_video=2)
    (root.parent / "secret.txt").write_text("outside the dataset")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_aligner_review_starts_the_app_for_real(demo):
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("STREAMLIT_BROWSER_GATHER_USAGE_STATS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aligner", "review", str(demo), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # so the test can stop Streamlit and anything it started
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, health = time.monotonic() + START_TIMEOUT_S, None
        while health != (200, b"ok") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                health = _get(f"{base}/_stcore/health")
            except OSError:
                time.sleep(0.2)
        assert health == (200, b"ok")
        argv = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                for pid in descendants(proc.pid)]  # fmt: skip
        server = [a for a in argv if b"streamlit" in a]
        assert server and USAGE_STATS_OFF.encode() in server[0], argv  # the running server's
        status, page = _get(f"{base}/")
        assert status == 200 and b"<html" in page.lower()
        for path in ("/app/static/../../secret.txt", "/app/static/%2e%2e/%2e%2e/secret.txt",
                     "/media/../../secret.txt", f"/{demo.name}/../secret.txt"):  # fmt: skip
            assert b"outside the dataset" not in _get(base + path)[1], path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode is not None
    assert "Local URL" in output or str(port) in output, output


def test_review_command_names_the_dataset_the_store_and_the_port(demo, tmp_path):
    from aligner.review_launcher import review_command
    from aligner.workspace import open_workspace

    ws = open_workspace(demo, tmp_path / "elsewhere.duckdb")
    cmd = review_command(ws, port=8999)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("ui/app.py")
    assert cmd[5:] == [USAGE_STATS_OFF, "--server.port", "8999", "--", str(ws.dataset), "--db",
                       str(ws.db_path)]  # fmt: skip
    assert not any(a.startswith("--server") for a in review_command(ws))  # Streamlit's config rules
