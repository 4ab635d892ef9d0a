"""Fault injection for the CLI, shared by tests/test_faults.py (a few kills, in CI) and
benchmarks/bench_faults.py (many kills): start a real `aligner` process, SIGKILL it at a chosen
moment, then check what it left behind.

Checks after each kill (`check_workspace`): the store opens; nothing committed is lost or
duplicated (sentences unique per video and position, `label_events` only grow); every cache,
checkpoint, similarity and export file under its real name reads back whole; no process the
killed one started is still alive.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "htm_sample"
# three sample videos that come with subtitles (JSON, VTT, SRT): no Whisper, so runs are short
SMALL_VIDEOS = ("A482RuKt9sO", "B4_JtYo84dd", "YfszoL4jBhd")
EPOCHS = 1
ORPHAN_WAIT_S = 5.0  # children of a killed process must be gone within this
STAGE_DONE = "auto-align: [{n}/4] "  # the line auto-align prints when stage n is done
AUTO_STAGES = ("ingest", "features", "train", "predict")


def small_dataset(target: Path, videos: tuple[str, ...] = SMALL_VIDEOS) -> Path:
    """A copy of a few videos of the committed sample with their subtitles."""
    (target / "videos").mkdir(parents=True)
    (target / "subtitles").mkdir()
    for video_id in videos:
        shutil.copy2(SAMPLE / "videos" / f"{video_id}.mp4", target / "videos")
        for sub in (SAMPLE / "subtitles").glob(f"{video_id}.*"):
            shutil.copy2(sub, target / "subtitles")
    return target


def aligner_env() -> dict[str, str]:
    # one torch thread, as auto-align uses: standalone `train` with two threads spin-waits on a
    # shared 2-core machine (10x slower), and the faults do not depend on it
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def command(name: str, dataset: Path, *extra: str) -> list[str]:
    """`python -m aligner NAME DATASET ...` with the short training these checks use."""
    args = [sys.executable, "-m", "aligner", name, str(dataset), *extra]
    if name in ("train", "auto-align"):
        args += ["--epochs", str(EPOCHS)]
    return args


@dataclass
class Proc:
    """A running aligner command whose stderr is collected line by line as it comes."""

    args: list[str]
    popen: subprocess.Popen = field(init=False)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.popen = subprocess.Popen(
            self.args, env=aligner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace",
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))

    def seen(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def finish(self, timeout: float) -> tuple[int, str, str]:
        out = self.popen.stdout.read() if self.popen.stdout else ""
        rc = self.popen.wait(timeout)
        self._reader.join(5)
        return rc, out, "\n".join(self.lines)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids that still run (a zombie waiting for its reaper counts as dead)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            out.add(pid)
    return out


@dataclass
class Kill:
    """What one injected fault did."""

    command: str
    planned_stage: str
    delay_s: float
    killed: bool  # False when the command finished before the kill point
    stage_at_kill: str = ""
    children: int = 0  # processes it had started at the moment of the kill
    orphans: int = 0  # of those, still alive ORPHAN_WAIT_S later


def kill_after(
    proc: Proc, delay_s: float, *, after: str | None = None, timeout: float = 300
) -> Kill:
    """SIGKILL `proc` `delay_s` seconds after stderr shows `after` (or after the start)."""
    deadline = time.monotonic() + timeout
    while after and not proc.seen(after) and proc.popen.poll() is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{after!r} never appeared: {proc.lines[-5:]}")
        time.sleep(0.02)
    end = time.monotonic() + delay_s
    while time.monotonic() < end and proc.popen.poll() is None:
        time.sleep(0.01)
    kill = Kill(proc.args[3], "", round(delay_s, 3), proc.popen.poll() is None)
    if kill.killed:
        children = descendants(proc.popen.pid)
        kill.stage_at_kill = auto_stage(proc) if kill.command == "auto-align" else kill.command
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait()
        kill.children = len(children)
        kill.orphans = len(wait_gone(children, ORPHAN_WAIT_S))
    else:
        proc.finish(timeout)
    return kill


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """The pids still alive after waiting up to `timeout` seconds for them to end."""
    end = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < end:
        time.sleep(0.05)
    return alive(pids)


def auto_stage(proc: Proc) -> str:
    """The auto-align stage running now, read from the stage lines printed so far."""
    done = [n for n in range(1, 5) if proc.seen(STAGE_DONE.format(n=n))]
    return AUTO_STAGES[len(done)] if len(done) < 4 else "after predict"


def kill_in_auto_stage(dataset: Path, stage: str, rng: random.Random, span_s: float) -> Kill:
    """Start auto-align and SIGKILL it at a random moment in `stage` (up to `span_s` into it)."""
    n = AUTO_STAGES.index(stage)
    proc = Proc(command("auto-align", dataset))
    after = STAGE_DONE.format(n=n) if n else None
    kill = kill_after(proc, rng.uniform(0.0, span_s), after=after)
    kill.planned_stage = stage
    return kill


# -- what a workspace holds ----------------------------------------------------------------
def rows(db_path: Path) -> dict:
    """The results a user reads, keyed by video and position (never by internal ids):
    sentences, the newest tan predictions, current labels, and the label history size."""
    from aligner.store import Store

    with Store(db_path, read_only=True) as store:
        sentences = [(s.video_id, s.idx, s.start, s.end, s.text) for s in store.sentences()]
        run = store.latest_run("tan")
        preds = {}
        if run is not None:
            preds = {
                (p["video_id"], p["idx"]): (p["alignability"], p["start"], p["end"], p["peak"])
                for p in store.predictions(run["run_id"])
            }
        events = store.query("SELECT count(*) FROM label_events")[0][0]
        running = [r["run_id"] for r in store.runs() if r["status"] == "running"]
    return {"sentences": sentences, "predictions": preds, "events": events, "running": running}


def same_rows(a: dict, b: dict, tolerance: float = 1e-5) -> list[str]:
    """How two workspaces' final rows differ (empty when they agree)."""
    problems = []
    if a["sentences"] != b["sentences"]:
        problems.append("sentences differ")
    if a["predictions"].keys() != b["predictions"].keys():
        problems.append("predicted sentences differ")
    else:
        for key, values in a["predictions"].items():
            if not np.allclose(values, b["predictions"][key], atol=tolerance):
                problems.append(f"prediction {key} differs: {values} vs {b['predictions'][key]}")
                break
    return problems


def check_workspace(ws_root: Path, db_path: Path, before: dict | None) -> tuple[dict, list[str]]:
    """(rows now, problems): the store opens, nothing committed lost or duplicated, no torn file."""
    from aligner.store import Store

    problems: list[str] = []
    try:
        Store(db_path).close()  # what the next command does first: open (and finish migrating)
        now = rows(db_path)
    except Exception as err:  # the one thing that must never happen after a kill
        return {}, [f"store does not open: {err}"]
    keys = [(s[0], s[1]) for s in now["sentences"]]
    if len(keys) != len(set(keys)):
        problems.append("duplicate sentences")
    if before is not None:
        if now["events"] < before["events"]:
            problems.append(f"label events lost: {before['events']} -> {now['events']}")
        lost = {(s[0], s[1]) for s in before["sentences"]} - set(keys)
        if lost:
            problems.append(f"{len(lost)} committed sentences lost")
    problems += torn_files(ws_root)
    return now, problems


def torn_files(root: Path) -> list[str]:
    """Files under their real names that do not read back whole."""
    from aligner.features.cache import FeatureCache

    problems = []
    features = root / "features"
    for sidecar in features.glob("*/*.json"):
        cache = FeatureCache(features, json.loads(sidecar.read_text())["key"])
        video_id = json.loads(sidecar.read_text())["video_id"]
        if cache.valid(video_id) is not None and cache.load(video_id) is None:
            problems.append(f"torn feature cache {sidecar.with_suffix('.npy')}")
    for path in [*features.glob("text/*.npz"), *root.glob("similarity/*/*.npy")]:
        try:
            np.load(path, allow_pickle=False)
        except Exception as err:
            problems.append(f"torn {path}: {err}")
    for path in root.glob("checkpoints/*.pt"):
        import torch

        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            problems.append(f"torn checkpoint {path}: {err}")
    return problems


def export_complete(path: Path) -> bool:
    """A JSON-lines export that parses to the end (absent counts as complete: nothing written)."""
    if not path.exists():
        return True
    try:
        lines = path.read_text().splitlines()
        return all(json.loads(line) for line in lines) and bool(lines)
    except (ValueError, UnicodeDecodeError):
        return False


def text_cache_files(ws_root: Path) -> list[Path]:
    """The text-embedding cache files (main file and part files) of a workspace."""
    return sorted((ws_root / "features" / "text").glob("*.npz"))


def features_with_chunks(dataset: Path, save_every: int) -> list[str]:
    """`aligner features DATASET` with the text cache saved every `save_every` sentences (the
    real 4,096 would need a folder that takes minutes to encode)."""
    code = ("import sys; from aligner.features import text;"
            "text.TEXT_SAVE_EVERY = int(sys.argv[3]); from aligner.cli import main;"
            "raise SystemExit(main(sys.argv[1:3]))")  # fmt: skip
    return [sys.executable, "-c", code, "features", str(dataset), str(save_every)]


# a process that dies by SIGKILL between writing its temporary file and renaming it
_KILLED_WRITE = """
import os, signal, sys
from aligner.atomic import atomic_write

data = sys.stdin.buffer.read()

def write_then_die(f):
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

atomic_write(sys.argv[1], write_then_die)
"""


def killed_write(target: Path, data: bytes) -> Path:
    """The temporary file a writer of `target` leaves when it is SIGKILLed after writing all of
    `data` and before the rename (made by a real process killed there, named as it names it)."""
    before = set(temp_files(target.parent)) if target.parent.exists() else set()
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(target)], input=data,
                          env=aligner_env(), timeout=60)  # fmt: skip
    assert done.returncode == -signal.SIGKILL and not target.exists(), done
    (left,) = set(temp_files(target.parent)) - before
    assert left.read_bytes() == data
    return left


def temp_files(root: Path) -> list[Path]:
    """Temporary files of atomic writes (a SIGKILL between write and rename leaves one)."""
    return [p for p in root.rglob(".*.tmp") if p.is_file()]
