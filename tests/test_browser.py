"""The review app in a real browser: headless Debian Chromium driven by Playwright.

Starts `streamlit run ui/app.py` on a free localhost port, enters a name, opens a video, accepts
one sentence (keyboard shortcut), marks one not alignable (B-roll), corrects a third from the
player ("mark end" at a sub-second time) and the frame strip, then stops the server and checks the
rows in DuckDB. Screenshots go to `artifacts/browser/`. Without /usr/bin/chromium the test skips,
except under CI (`CI` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "artifacts" / "browser"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
WAIT_MS = 20_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(dataset: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "ui" / "app.py"),
           "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
           "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
           "--", str(dataset)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIGNER_")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")


def _saved(page, text: str) -> None:
    page.get_by_test_id("stAlertContentSuccess").filter(has_text=text).wait_for(timeout=WAIT_MS)


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _review_session(page, base_url: str) -> dict:
    page.goto(base_url)
    page.get_by_test_id("stTextInput").locator("input").fill("ana")
    page.get_by_role("button", name="Start reviewing").click()
    page.get_by_text("Review queue").wait_for(timeout=WAIT_MS)
    _shot(page, "1-queue")
    page.locator(".st-key-open_video button").click()
    page.locator(".frame").first.wait_for(timeout=WAIT_MS)  # the frame strip (shadow DOM)
    page.locator("video").wait_for(timeout=WAIT_MS)
    _shot(page, "2-review")
    # 1) accept sentence #0 with the keyboard
    page.locator("video").evaluate("v => { v.dataset.keep = '1'; }")
    page.get_by_text("Sentence #0 of 4").click()
    page.keyboard.press("a")
    _saved(page, "Saved #0: accept")
    page.get_by_text("Sentence #1 of 4").wait_for(timeout=WAIT_MS)
    # the same <video> element lives on: the player was updated, not re-created and reloaded
    assert page.locator("video[data-keep='1']").count() == 1
    # 2) sentence #1: reason B-roll, then "Not alignable"
    page.get_by_role("radio", name="B-roll").first.click()
    page.locator(".st-key-not_alignable button").click()
    _saved(page, "Saved #1: not alignable")
    page.get_by_text("Sentence #2 of 4").wait_for(timeout=WAIT_MS)
    return _correct_third(page)


def _correct_third(page) -> dict:
    """Player: seek to 12.34 s, "mark end" -> 12.3; then frame strip: start and end buttons."""
    from playwright.sync_api import expect

    video = page.locator("video")
    expect(video).to_have_count(1, timeout=WAIT_MS)  # no stale player left from a rerun
    video.evaluate("v => new Promise(r => { v.pause(); v.onseeked = r; v.currentTime = 0; })")
    offset = float(page.locator(".player .time").inner_text().split()[0])
    video.evaluate(
        f"v => new Promise(r => {{ v.onseeked = r; v.currentTime = {12.34 - offset}; }})"
    )
    page.get_by_role("button", name="mark end ]").click()
    end_input, start_input = page.get_by_label("end (s)"), page.get_by_label("start (s)")
    expect(end_input).to_have_value("12.3", timeout=WAIT_MS)
    frames = page.locator(".frame")
    first, last = frames.nth(1), frames.nth(frames.count() - 2)
    picked = {"start": float(first.get_attribute("data-time")),
              "end": float(last.get_attribute("data-time"))}  # fmt: skip
    first.locator("button.set-start").click()
    expect(start_input).to_have_value(f"{picked['start']:.1f}", timeout=WAIT_MS)
    last.locator("button.set-end").click()
    expect(end_input).to_have_value(f"{picked['end']:.1f}", timeout=WAIT_MS)
    _shot(page, "3-correcting")
    page.locator(".st-key-correct button").click()
    _saved(page, "Saved #2: correct")
    _shot(page, "4-saved")
    return picked


def test_review_in_a_real_browser(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    from aligner.store import Store
    from tests.demo_data import make_demo_dataset

    ws = make_demo_dataset(tmp_path / "demo", n_videos=1, duration_s=20.0, sentences_per_video=4)
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = _start_server(ws.dataset, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            try:
                picked = _review_session(page, f"http://127.0.0.1:{port}/")
            finally:
                _shot(page, "last")
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    with Store(ws.db_path, read_only=True) as store:
        labels = store.current_labels("demo0")
        events = store.counts()["label_events"]
    by_idx = {i: label for i, label in enumerate(labels)}
    assert [label["status"] for label in labels] == ["accepted", "not_alignable", "corrected"]
    assert all(label["curator"] == "ana" for label in labels) and events == 3
    assert by_idx[1]["reason"] == "b_roll" and by_idx[1]["alignable"] is False
    assert (by_idx[2]["start"], by_idx[2]["end"]) == (picked["start"], picked["end"])
