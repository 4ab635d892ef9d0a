"""Concurrent curators, short version (benchmarks/bench_curators.py holds the load for minutes):
8 threads save decisions on the same 12 sentences through the app's store path for a few
seconds; nothing accepted is lost, stale writes are refused naming the sentence as curators see
it, no raw DuckDB error escapes, saves rarely fail."""

from __future__ import annotations

import re

from tests.curators import N_SENTENCES, VIDEO_ID, audit, make_store, percentiles_ms, run_load

CURATORS = 8
SECONDS = 8.0
MAX_BUSY_SHARE = 0.01  # saves given up after every retry, of all save attempts
STALE = re.compile(
    rf'^sentence (\d+) of video {VIDEO_ID} \("step \1 of the busy video"\) was changed by'
    r" someone else( \(curator\d\))? since you opened it .*nothing was saved"
)


def test_curators_saving_at_once_lose_nothing(tmp_path, capsys):
    db = tmp_path / "aligner.duckdb"
    make_store(db)
    out = run_load(db, CURATORS, SECONDS, seed=1)
    assert not out.raw, out.raw[:3]
    assert not out.other, out.other[:3]
    assert not audit(db, out)
    assert len(out.saved) > 50 and out.stale, (len(out.saved), len(out.stale))
    for message in out.stale:
        match = STALE.match(message)
        assert match and 1 <= int(match[1]) <= N_SENTENCES, message
    assert len(out.busy) <= MAX_BUSY_SHARE * len(out.latency_s), out.busy[:3]
    with capsys.disabled():
        print(f"\n{CURATORS} curators x {SECONDS:.0f} s: {len(out.saved)} saved,"
              f" {len(out.stale)} stale, {len(out.busy)} busy; save latency ms"
              f" {percentiles_ms(out.latency_s)}")  # fmt: skip
