"""Concurrent curators (issue 12), long version of tests/test_curators.py.

N simulated curators (threads) save decisions on the same 12 sentences through the review app's
store path (one shared `Store`, a `session_view()` per curator, `record_decision` with the
version shown) for a bounded time. Reports what was accepted, refused as stale, given up as busy,
anything lost (audit of `label_events`), and save latency p50/p95/p99. The reference measured in
the same run: one curator alone on the same store (the latency floor on this machine).

    .venv/bin/python benchmarks/bench_curators.py [--curators 8] [--minutes 2]
Writes benchmarks/results/curators.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.curators import audit, make_store, percentiles_ms, run_load  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "curators.json"
ALONE_S = 10.0  # the single-curator reference run


def measure(n_curators: int, seconds: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "aligner.duckdb"
        make_store(db)
        out = run_load(db, n_curators, seconds, seed=seed)
        problems = audit(db, out)
    attempts = len(out.latency_s)
    return {
        "curators": n_curators,
        "seconds": seconds,
        "saves_attempted": attempts,
        "saved": len(out.saved),
        "undone": len(out.undone),
        "stale_refused": len(out.stale),
        "busy_failed": len(out.busy),
        "busy_share": round(len(out.busy) / attempts, 5) if attempts else 0.0,
        "other_errors": len(out.other),
        "raw_exceptions": len(out.raw),
        "lost_or_inconsistent": problems,
        "latency_ms": percentiles_ms(out.latency_s),
        "saves_per_s": round(attempts / seconds, 1),
        "example_stale_message": out.stale[0] if out.stale else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curators", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    alone = measure(1, ALONE_S, args.seed)
    load = measure(args.curators, args.minutes * 60, args.seed)
    result = {"alone": alone, "load": load,
              "p95_vs_alone": round(load["latency_ms"]["p95"] / alone["latency_ms"]["p95"], 2)}  # fmt: skip
    for name, r in (("1 curator", alone), (f"{args.curators} curators", load)):
        print(f"{name:>12} x {r['seconds'] / 60:.1f} min: {r['saved']} saved, {r['undone']} undone,"
              f" {r['stale_refused']} stale, {r['busy_failed']} busy, {r['raw_exceptions']} raw,"
              f" lost {r['lost_or_inconsistent'] or 'nothing'}; latency ms {r['latency_ms']}")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
