"""How well a visual descriptor tells the things apart, before any noisy label: a linear probe.

Per folder: every second labelled from the plan with the thing in view (or none), a logistic
regression trained on three quarters of the videos and applied to the rest (4 folds by video);
printed and written per family:
- per-second accuracy on the seconds that show a thing;
- sentence R@1: per shown sentence, the peak of log p(its thing | second) + the shipped ASR
  prior, inside its ground-truth span; what TAN could reach if the ASR noise taught it as well
  as clean labels do (the nearest-showing ceiling, `ceiling.py`, bounds it).
Cheap (no training of TAN, a minute a folder), so descriptor variants are compared here first
and then confirmed by `run.py` on the development folders.

    .venv/bin/python benchmarks/quality/probe.py [--families filler,workspace,crowded]
        [--seed 1] [--describe module:function] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "quality_probe.json"
FOLDS = 4
ENTER_S, LEAVE_S = 1.5, 1.0  # a workspace thing slides in / out this long (render.py)


def second_labels(plan, seconds: int) -> list[tuple[str, ...]]:
    """Per second, the things fully in view at its centre (() for none)."""
    out = []
    for t in np.arange(seconds) + 0.5:
        shot = next((s for s in plan.shots if s.start <= t < s.end), None)
        sliding = shot is not None and shot.kind == "workspace" and (
            t - shot.start < ENTER_S or shot.end - t < LEAVE_S)  # fmt: skip
        out.append(() if shot is None or sliding else shot.things)
    return out


def describe_folder(family: str, seed: int, describe) -> dict:
    """{video_id: ((T, D) descriptors, per-second labels, plan)} for one suite folder."""
    from aligner.features.builtin import INPUT_SIZE
    from aligner.frames import iter_frames
    from benchmarks.quality.render import plans, write_folder
    from benchmarks.quality.suite import folder

    path = folder(family, seed)
    if not (path / "annotations" / "htm_align.json").is_file():
        write_folder(path, family, seed)
    out = {}
    for plan in plans(family, seed):
        video = next((path / "videos").glob(f"{plan.video_id}.*"))
        feats = describe(iter_frames(video, size=INPUT_SIZE, duration=plan.duration))
        out[plan.video_id] = (feats, second_labels(plan, len(feats)), plan)
    return out


def probe(videos: dict) -> dict:
    """Per-second accuracy and sentence R@1 (%) of the 4-fold linear probe."""
    from sklearn.linear_model import LogisticRegression

    from aligner.tan.prior import asr_prior
    from benchmarks.quality.ceiling import named_thing

    ids = sorted(videos)
    correct, hits = [], []
    for fold in range(FOLDS):
        test = set(ids[fold::FOLDS])
        x, y = [], []
        for vid in ids:
            if vid not in test:
                for feat, things in zip(videos[vid][0], videos[vid][1], strict=True):
                    for thing in things or ("",):  # a collage second counts for each thing
                        x.append(feat)
                        y.append(thing)
        clf = LogisticRegression(max_iter=300).fit(np.array(x), np.array(y))
        classes = list(clf.classes_)
        for vid in test:
            feats, labels, plan = videos[vid]
            logp = clf.predict_log_proba(feats)
            best = [classes[i] for i in logp.argmax(axis=1)]
            correct += [b in things for b, things in zip(best, labels, strict=True) if things]
            for s in plan.sentences:
                shot = next((h for h in plan.shots if s.shown == (h.start, h.end)), None)
                thing = named_thing(s.text, shot) if shot else None
                if thing not in classes:
                    continue
                row = logp[:, classes.index(thing)]
                peak = int(np.argmax(row + asr_prior(len(row), [(s.start + s.end) / 2])[0]))
                hits.append(shot.start <= peak + 0.5 < shot.end)
    return {"second_accuracy": round(100 * float(np.mean(correct)), 1),
            "sentence_r_at_1": round(100 * float(np.mean(hits)), 1), "sentences": len(hits)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="filler,workspace,crowded")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--describe", default="aligner.features.builtin:describe_video",
                        help="module:function, iterable of RGB frames -> (T, D) array")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    module, function = args.describe.split(":")
    describe = getattr(importlib.import_module(module), function)
    result = {"seed": args.seed, "describe": args.describe, "families": {}}
    for family in args.families.split(","):
        result["families"][family] = probe(describe_folder(family, args.seed, describe))
        print(family, result["families"][family], flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
