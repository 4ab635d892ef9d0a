"""Faults, short version (benchmarks/bench_faults.py is the long one): SIGKILL at every stage,
worker processes that must die with their parent, a full disk, a read-only dataset.

Full disk: a small tmpfs (`mount -t tmpfs`, needs root); where mounting is not permitted the
write limit of `ulimit -f` (RLIMIT_FSIZE: writes past it fail with EFBIG) stands in for it.
Read-only dataset: a read-only bind mount (root), else `chmod -R a-w` (which binds non-root
users only, so the fallback is used exactly where it works).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import missing
from tests.faults import (
    AUTO_STAGES,
    Proc,
    aligner_env,
    check_workspace,
    command,
    descendants,
    export_complete,
    features_with_chunks,
    kill_after,
    kill_in_auto_stage,
    killed_write,
    rows,
    same_rows,
    small_dataset,
    temp_files,
    text_cache_files,
    torn_files,
    wait_gone,
)
from tests.media import ffmpeg_video

RUN_TIMEOUT_S = 300
KILL_SPAN_S = 1.5  # kill at a random moment this far into a stage (or earlier, if it ends)


def _run(args: list[str], *, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit():  # the RLIMIT_FSIZE fallback for a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        args, env=aligner_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        preexec_fn=limit if limit_bytes else None,
    )  # fmt: skip


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """`folder` on a tmpfs of `size` (yields True), or a plain folder (yields False)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` made read-only: a read-only bind mount over itself (root) or chmod."""
    mounted = _mount("--bind", str(folder), str(folder)) and _mount(
        "-o", "remount,ro,bind", str(folder)
    )
    if not mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    try:
        yield
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)


@pytest.fixture
def dataset(tmp_path) -> Path:
    return small_dataset(tmp_path / "ds")


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": error: " in line]


# -- worker processes ------------------------------------------------------------------------
def test_feature_workers_die_with_their_killed_parent(sample_dataset):
    """SIGKILL of a process computing features with a pool: no worker outlives it."""
    from aligner.ingest import ingest_dataset
    from aligner.workspace import open_workspace

    ingest_dataset(open_workspace(sample_dataset), progress=False)
    code = ("import sys; from aligner.features import compute_features;"
            "from aligner.workspace import open_workspace;"
            "compute_features(open_workspace(sys.argv[1]), workers=2)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, str(sample_dataset)], env=aligner_env())
    deadline, workers = time.monotonic() + 120, set()
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        workers = {p for p in descendants(proc.pid) if _is_pool_worker(p)}
        time.sleep(0.02)
    assert len(workers) >= 2, "the pool never started"
    everything = descendants(proc.pid)  # workers and multiprocessing's resource tracker
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not wait_gone(everything, 5.0), "processes outlived their killed parent"


def _is_pool_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "spawn_main" in cmdline and "resource_tracker" not in cmdline


def test_a_worker_whose_parent_died_before_it_started_exits():
    """The parent can die while the worker still imports: the initializer exits at once."""
    code = ("import os, sys; from aligner.lifeline import die_with_parent;"
            "die_with_parent(int(sys.argv[1])); print('survived')")  # fmt: skip
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    done = subprocess.run([sys.executable, "-c", code, str(gone.pid)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0 and "survived" not in done.stdout


def test_the_watchdog_alone_ends_an_orphan():
    """Where PR_SET_PDEATHSIG does not exist, the parent-pid watchdog still ends the worker."""
    worker = ("import os, time, aligner.lifeline as life;"
              "life._set_parent_death_signal = lambda: False;"  # as on macOS / Windows
              "life.die_with_parent(os.getppid()); time.sleep(60)")  # fmt: skip
    parent = ("import subprocess, sys, time;"
              f"subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", parent], env=aligner_env())
    deadline, children = time.monotonic() + 60, set()
    while not children and time.monotonic() < deadline:
        children = descendants(proc.pid)
        time.sleep(0.05)
    time.sleep(2.0)  # the worker has imported aligner and armed its watchdog
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert children and not wait_gone(children, 5.0)


# -- kill -9 at every stage, then resume -------------------------------------------------------
@pytest.mark.slow
def test_killed_at_every_stage_resumes_to_the_rows_of_a_clean_run(tmp_path):
    clean, faulty = small_dataset(tmp_path / "clean"), small_dataset(tmp_path / "faulty")
    done = _run(command("auto-align", clean))
    assert done.returncode == 0, done.stderr
    reference = rows(clean / ".aligner" / "aligner.duckdb")
    rng, before, kills = random.Random(12), None, []
    ws_root, db = faulty / ".aligner", faulty / ".aligner" / "aligner.duckdb"
    for stage in AUTO_STAGES:
        kill = kill_in_auto_stage(faulty, stage, rng, KILL_SPAN_S)
        kills.append(kill)
        assert kill.orphans == 0, kill
        if db.exists():
            before, problems = check_workspace(ws_root, db, before)
            assert not problems, (kill, problems)
    assert sum(k.killed for k in kills) >= 3, kills  # most kills landed inside a run
    # standalone train and predict killed too, then the resumed auto-align finishes
    for name in ("train", "predict"):
        kill = kill_after(Proc(command(name, faulty)), rng.uniform(2.0, 4.0))
        assert kill.orphans == 0, kill
        before, problems = check_workspace(ws_root, db, before)
        assert not problems, (kill, problems)
    done = _run(command("auto-align", faulty))
    assert done.returncode == 0, done.stderr
    final, problems = check_workspace(ws_root, db, before)
    assert not problems and not final["running"], problems
    assert not same_rows(final, reference), same_rows(final, reference)
    # export killed at a random moment: no torn file; the re-run writes the clean run's bytes
    out, ref_out = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    assert (
        _run(command("export", clean, "--format", "jsonl", "--out", str(ref_out))).returncode == 0
    )
    kill = kill_after(Proc(command("export", faulty, "--format", "jsonl", "--out", str(out))),
                      rng.uniform(0.5, 2.5))  # fmt: skip
    assert export_complete(out), kill
    assert _run(command("export", faulty, "--format", "jsonl", "--out", str(out))).returncode == 0
    assert _records(out) == _records(ref_out)
    assert not temp_files(out.parent)


def _records(path: Path) -> list[dict]:
    """Export records without the run id (a resumed run predicts under another id)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if "run" not in k} for r in records]


# -- a full disk, a read-only dataset --------------------------------------------------------
@pytest.mark.slow
def test_full_disk_during_training_is_one_line_and_a_failed_run(dataset, tmp_path):
    for name in ("ingest", "features"):
        assert _run(command(name, dataset)).returncode == 0
    checkpoints = tmp_path / "checkpoints"
    # the ~4.2 MB checkpoint fails on a 1 MB tmpfs, or past a 4 MB per-file limit (the store is
    # ~3 MB here: it must still be written, to mark the run failed)
    with small_disk(checkpoints, "1m") as mounted:
        out = checkpoints / "tan.pt"
        done = _run(command("train", dataset, "--out", str(out)),
                    limit_bytes=None if mounted else 4 << 20)  # fmt: skip
        left = sorted(p.name for p in checkpoints.iterdir())
    assert done.returncode == 1, done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "tan" in errors[0] and ("No space left" in errors[0] or "too large" in errors[0])
    assert left == [], left  # neither the checkpoint nor a temporary file
    runs = rows(dataset / ".aligner" / "aligner.duckdb")["running"]
    assert runs == [], "the train run was left 'running'"


@pytest.mark.slow
def test_failing_export_leaves_nothing(dataset, tmp_path):
    assert _run(command("auto-align", dataset)).returncode == 0
    target = tmp_path / "exports"
    with small_disk(target, "64k") as mounted:
        if mounted:
            (target / "filler").write_bytes(b"\0" * (60 << 10))  # leave ~4 KB free
        out = target / "clean.jsonl"
        done = _run(command("export", dataset, "--format", "jsonl", "--out", str(out)),
                    limit_bytes=None if mounted else 2 << 10)  # fmt: skip
        left = sorted(p.name for p in target.iterdir() if p.name != "filler")
    assert done.returncode == 1 and len(_error_lines(done.stderr)) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert left == [], left


def test_read_only_dataset_is_one_clear_line_and_works_with_db_elsewhere(dataset, tmp_path):
    with read_only(dataset):
        if os.access(dataset, os.W_OK) and os.geteuid() == 0:
            missing("could not make the dataset read-only (no bind mount as root)")
        done = _run(command("ingest", dataset))
        assert done.returncode == 1, done.stderr
        errors = _error_lines(done.stderr)
        assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
        assert ".aligner" in errors[0] and "--db" in errors[0]
        db = tmp_path / "elsewhere" / "aligner.duckdb"
        elsewhere = _run(command("ingest", dataset, "--db", str(db)))
    assert elsewhere.returncode == 0 and "3 ok" in elsewhere.stdout, elsewhere.stderr


@pytest.mark.slow
def test_full_workspace_disk_is_one_line_and_a_bigger_disk_resumes(dataset, tmp_path):
    """The whole workspace (store, caches, checkpoints) on a disk too small for it: a 6 MB
    tmpfs, or (without mount) a 4 MB limit per file; either way the ~4 MB checkpoint fails."""
    workspace = tmp_path / "workspace"
    db = workspace / "aligner.duckdb"
    with small_disk(workspace, "6m") as mounted:
        limit = None if mounted else 4 << 20
        done = _run(command("auto-align", dataset, "--db", str(db)), limit_bytes=limit)
        assert done.returncode == 1, done.stderr
        errors = _error_lines(done.stderr)
        assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
        assert "No space left on device" in errors[0] or "too large" in errors[0], errors
        assert "--db" in errors[0]
        assert not temp_files(workspace), temp_files(workspace)
        if mounted:
            assert _mount("-o", "remount,size=64m", str(workspace))
        again = _run(command("auto-align", dataset, "--db", str(db)))  # the space is there now
        assert again.returncode == 0, again.stderr
        final = rows(db)
    assert final["predictions"] and not final["running"]


@pytest.mark.slow
def test_features_finished_before_a_kill_are_reused(sample_dataset):
    """SIGKILL once some videos' features are cached: the re-run computes only the others."""
    features = sample_dataset / ".aligner" / "features"
    proc = Proc(command("auto-align", sample_dataset, "--no-asr"))
    finished = lambda: list(features.glob("builtin*/*.json"))  # noqa: E731 (sidecar = whole entry)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(finished()) < 2 and proc.popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    kill = kill_after(proc, 0.0)
    assert kill.killed and kill.orphans == 0, kill
    done_before = len(finished())
    again = _run(command("features", sample_dataset))
    assert again.returncode == 0, again.stderr
    summary = again.stdout.strip().splitlines()[-1]
    videos, computed, cached = map(int, re.search(
        r"features: (\d+) videos .*: (\d+) computed, (\d+) cached", summary).groups())  # fmt: skip
    assert 2 <= done_before < videos, (done_before, summary)  # killed in the middle
    assert (computed, cached) == (videos - done_before, done_before), summary


def test_sweep_removes_only_temp_files_of_dead_writers(tmp_path):
    """A write in progress in a live process keeps its temporary file; names aligner does not
    write are never touched, even when they look alike."""
    from aligner.atomic import sweep_stale_temps

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".v1.npy.k3j2h1g0.aligner-{gone.pid}.tmp",
            "live": f".v1.npy.a8b7c6d5.aligner-{live.pid}.tmp",
            "mine": f".v2.npy.q1w2e3r4.aligner-{os.getpid()}.tmp",
            "user": ".notes.tmp",
            "no dot": f"v1.npy.k3j2h1g0.aligner-{gone.pid}.tmp",
            "other end": f".v1.npy.k3j2h1g0.aligner-{gone.pid}.tmp.bak",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"x")
        assert sweep_stale_temps(tmp_path) == [tmp_path / names["dead"]]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            n for k, n in names.items() if k != "dead"
        )
    finally:
        live.kill()
        live.wait()


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.slow
def test_temp_files_left_by_killed_writes_are_swept_and_never_read(tmp_path):
    """A SIGKILL between write and rename leaves `.NAME.*.tmp` beside the feature cache, the
    text cache, a checkpoint and an export; each holds data that would be wrong if read. The
    next run removes them and ends with the rows and export of a clean run."""
    from aligner.features.cache import FeatureCache, safe_name
    from aligner.features.text import get_text_encoder
    from aligner.features.visual import get_visual_backbone

    clean, faulty = small_dataset(tmp_path / "clean"), small_dataset(tmp_path / "faulty")
    assert _run(command("auto-align", clean)).returncode == 0
    ws_root, video_id = faulty / ".aligner", "B4_JtYo84dd"
    visual = FeatureCache(ws_root / "features", get_visual_backbone("builtin").key)
    text_npz = ws_root / "features" / "text" / f"{safe_name(get_text_encoder().key)}.npz"
    bogus = np.full((3, 4), 999.0, np.float32)
    left = [
        killed_write(visual.paths(video_id)[0], _npy_bytes(bogus)),
        killed_write(text_npz, _npy_bytes(bogus)),
        killed_write(ws_root / "checkpoints" / "tan.pt", b"not a checkpoint"),
        killed_write(tmp_path / "exports" / "out.jsonl", b'{"video_id": "bogus"}\n'),
    ]
    done = _run(command("auto-align", faulty))
    assert done.returncode == 0, done.stderr
    out, ref_out = tmp_path / "exports" / "out.jsonl", tmp_path / "ref.jsonl"
    for dataset, path in ((faulty, out), (clean, ref_out)):
        assert (
            _run(command("export", dataset, "--format", "jsonl", "--out", str(path))).returncode
            == 0
        )
    assert not [p for p in left if p.exists()], left
    assert not temp_files(ws_root) and not temp_files(out.parent)
    assert not same_rows(
        rows(ws_root / "aligner.duckdb"), rows(clean / ".aligner" / "aligner.duckdb")
    )
    assert _records(out) == _records(ref_out)
    reference = FeatureCache(clean / ".aligner" / "features", visual.key).load(video_id)
    assert np.allclose(visual.load(video_id), reference)


CHUNK = 64  # sentences per text-cache save in the kill test (in use: 4,096)
MANY_SENTENCES = 20 * CHUNK


def _many_sentences_dataset(root: Path) -> Path:
    """One 13 s video whose SRT has `MANY_SENTENCES` distinct one-cue sentences (100 ms each)."""
    ffmpeg_video(root / "videos" / "talk.mp4", MANY_SENTENCES / 10 + 1, "64x48")
    stamp = lambda ms: f"00:{ms // 60000:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"  # noqa: E731
    cues = [f"{i + 1}\n{stamp(i * 100)} --> {stamp(i * 100 + 90)}\nStep {i} of the recipe is"
            f" number {i * 7 % 1000}.\n" for i in range(MANY_SENTENCES)]  # fmt: skip
    (root / "subtitles").mkdir()
    (root / "subtitles" / "talk.srt").write_text("\n".join(cues))
    assert _run(command("ingest", root)).returncode == 0
    return root


def _encoded(stdout: str) -> tuple[int, int]:
    """(sentences, encoded now) from the summary line of `aligner features`."""
    found = re.search(r"(\d+) sentences with \S+: (\d+) encoded", stdout)
    assert found, stdout
    return int(found[1]), int(found[2])


def _text_vectors(ws_root: Path) -> dict[str, np.ndarray]:
    from aligner.features.text import TextCache

    (main,) = [p for p in text_cache_files(ws_root) if ".part" not in p.name]
    cache = TextCache(main)
    return {key: cache.vectors[i] for key, i in cache.index.items()}


@pytest.mark.slow
def test_text_chunks_finished_before_a_kill_are_reused(tmp_path):
    """SIGKILL of `aligner features` while its encoder child is part-way through the text
    cache: every file left reads whole, the re-run encodes only the sentences the finished
    chunks lack, and the cache ends with the clean run's vectors."""
    clean = _many_sentences_dataset(tmp_path / "clean")
    done = _run(features_with_chunks(clean, CHUNK))
    assert done.returncode == 0, done.stderr
    assert _encoded(done.stdout) == (MANY_SENTENCES, MANY_SENTENCES)

    faulty = _many_sentences_dataset(tmp_path / "faulty")
    ws_root = faulty / ".aligner"
    proc = Proc(features_with_chunks(faulty, CHUNK))
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(text_cache_files(ws_root)) < 2 and proc.popen.poll() is None:
        assert time.monotonic() < deadline, proc.lines[-5:]
        time.sleep(0.01)
    kill = kill_after(proc, 0.0)
    assert kill.killed and kill.children >= 1 and kill.orphans == 0, kill
    assert not torn_files(ws_root), torn_files(ws_root)
    kept = sum(len(np.load(p)["keys"]) for p in text_cache_files(ws_root))
    assert kept % CHUNK == 0 and CHUNK <= kept < MANY_SENTENCES, kept  # whole chunks only

    again = _run(features_with_chunks(faulty, CHUNK))
    assert again.returncode == 0, again.stderr
    assert _encoded(again.stdout) == (MANY_SENTENCES, MANY_SENTENCES - kept)
    assert [p.name for p in text_cache_files(ws_root)] == [
        p.name for p in text_cache_files(clean / ".aligner")
    ]  # the parts folded into the one file
    assert not temp_files(ws_root / "features" / "text")  # a kill mid-save leaves one: swept
    resumed, reference = _text_vectors(ws_root), _text_vectors(clean / ".aligner")
    assert resumed.keys() == reference.keys() and len(resumed) == MANY_SENTENCES
    # same chunks, same batches: equal up to float rounding (no claim on the kernels' bits)
    assert all(np.allclose(resumed[k], reference[k], atol=1e-6) for k in reference)


def test_a_loss_that_becomes_nan_stops_training_with_one_clear_line():
    """Features that slipped past the checks as NaN: training stops instead of running on
    with loss=nan (and never writes a checkpoint of NaN weights)."""
    import numpy as np

    from aligner.errors import AlignerError
    from aligner.tan.config import FeatureSpec, TrainConfig
    from aligner.tan.train import train_items
    from tests.toy_data import toy_items

    items, _ = toy_items(4, seed=3)
    items[1].video[0][5:9] = np.nan
    spec = FeatureSpec(("toy",), (48,), "toy-text", 32)
    cfg = TrainConfig(stage1_epochs=1, stage2_epochs=1)
    with pytest.raises(AlignerError, match="training stopped: the loss became nan"):
        train_items(items, spec, train_config=cfg, progress=False)
