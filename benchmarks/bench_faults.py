"""Fault injection (issue 12), long version of tests/test_faults.py: many SIGKILLs at random
moments of ingest, features, training, prediction and export, each followed by the checks of
tests/faults.py (store opens, nothing committed lost or duplicated, no torn file, no orphan
process), and after every round a resumed run compared with a clean run.

A round: auto-align killed at a random moment of each of its four stages in turn (ingest,
features, train, predict), a standalone `train` and `predict` killed at random, the resumed
auto-align (must equal the clean run), then an export killed at random (its file must be absent
or whole) and re-run (must equal the clean export). The reference measured in the same run: one
clean auto-align and export.

    .venv/bin/python benchmarks/bench_faults.py [--rounds 5] [--seed 0]
Writes benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.faults import (  # noqa: E402
    AUTO_STAGES,
    Proc,
    aligner_env,
    check_workspace,
    command,
    export_complete,
    kill_after,
    kill_in_auto_stage,
    rows,
    same_rows,
    small_dataset,
    temp_files,
)

RESULTS = REPO / "benchmarks" / "results" / "faults.json"
RUN_TIMEOUT_S = 600
STAGE_TIME = re.compile(r"auto-align: \[\d/4\] (\w+) done in ([\d.]+) s")


def _run(args: list[str]) -> tuple[float, str]:
    """(wall seconds, stderr) of a command that must succeed."""
    started = time.perf_counter()
    done = subprocess.run(args, env=aligner_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[3:5])} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stderr


def kill_spans(total_s: float, stderr: str) -> dict[str, float]:
    """How long each stage lasted in the clean run (its "done in X s" lines); ingest also gets
    the start-up time (imports), and standalone train / predict start-up + their stage, so that
    a random kill point falls inside the work instead of after it."""
    stages = {m[1]: float(m[2]) for m in STAGE_TIME.finditer(stderr)}
    startup = max(0.5, total_s - sum(stages.values()))
    spans = {s: max(0.2, stages.get(s, 1.0)) for s in AUTO_STAGES}
    spans["ingest"] += startup
    spans.update(train=startup + spans["train"], predict=startup + spans["predict"])
    return spans


def _export_records(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if "run" not in k} for r in records]


def one_round(tmp: Path, clean: Path, reference: dict, spans: dict, rng: random.Random) -> dict:
    """Every kill of one round on a fresh copy; returns the kills and the problems seen."""
    faulty = small_dataset(tmp / "faulty")
    root, db = faulty / ".aligner", faulty / ".aligner" / "aligner.duckdb"
    kills, problems, before = [], [], None

    def check(kill) -> None:
        nonlocal before
        kills.append(asdict(kill))
        if kill.orphans:
            problems.append(f"{kill.orphans} orphan processes after {kill}")
        if db.exists():
            before, found = check_workspace(root, db, before)
            problems.extend(f"after {kill.command} @ {kill.stage_at_kill}: {p}" for p in found)

    for stage in AUTO_STAGES:
        check(kill_in_auto_stage(faulty, stage, rng, spans[stage]))
    for name in ("train", "predict"):
        check(kill_after(Proc(command(name, faulty)), rng.uniform(0.0, spans[name])))
    _run(command("auto-align", faulty))
    final, found = check_workspace(root, db, before)
    problems += found + same_rows(final, reference)
    if final.get("running"):
        problems.append(f"runs left running: {final['running']}")
    out = tmp / "faulty.jsonl"
    kill = kill_after(Proc(command("export", faulty, "--format", "jsonl", "--out", str(out))),
                      rng.uniform(0.0, spans["export"]))  # fmt: skip
    kills.append(asdict(kill))
    if not export_complete(out):
        problems.append(f"torn export after {kill}")
    _run(command("export", faulty, "--format", "jsonl", "--out", str(out)))
    if _export_records(out) != _export_records(clean.with_suffix(".jsonl")):
        problems.append("export differs from the clean run's")
    leftovers = temp_files(root)
    return {"kills": kills, "problems": problems, "temp_files_left": len(leftovers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clean = small_dataset(tmp / "clean")
        clean_s, clean_log = _run(command("auto-align", clean))
        export_s, _ = _run(command("export", clean, "--format", "jsonl", "--out",
                                   str(clean.with_suffix(".jsonl"))))  # fmt: skip
        reference = rows(clean / ".aligner" / "aligner.duckdb")
        spans = kill_spans(clean_s, clean_log) | {"export": export_s}
        rounds = []
        for i in range(args.rounds):
            round_dir = tmp / f"round{i}"
            round_dir.mkdir()
            rounds.append(one_round(round_dir, clean, reference, spans, rng))
            print(f"round {i + 1}/{args.rounds}: {len(rounds[-1]['kills'])} faults,"
                  f" problems: {rounds[-1]['problems'] or 'none'}", flush=True)  # fmt: skip
    kills = [k for r in rounds for k in r["kills"]]
    by_stage = collections.Counter(
        f"{k['command']}:{k['stage_at_kill'] or 'run'}" for k in kills if k["killed"]
    )
    result = {
        "rounds": args.rounds,
        "reference_s": {"clean_auto_align": round(clean_s, 2), "clean_export": round(export_s, 2)},
        "kill_spans_s": {k: round(v, 2) for k, v in spans.items()},
        "faults_injected": sum(k["killed"] for k in kills),
        "kill_points_missed": sum(not k["killed"] for k in kills),  # the command ended first
        "killed_at": dict(sorted(by_stage.items())),
        "orphans": sum(k["orphans"] for k in kills),
        "problems": [p for r in rounds for p in r["problems"]],
        "temp_files_left": sum(r["temp_files_left"] for r in rounds),
        "kills": kills,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['faults_injected']} faults ({result['killed_at']}), {result['orphans']} orphans,"
          f" problems: {result['problems'] or 'none'}; wrote {RESULTS}")  # fmt: skip


if __name__ == "__main__":
    main()
