"""Generate a synthetic HowTo100M-style dataset (videos, subtitles, caption.json, ground truth).

    python sample_data/generate.py                       # the committed sample (htm_sample/)
    python sample_data/generate.py --out DIR --videos 100 --duration 30 --seed 1 --no-audio
    python sample_data/generate.py --out DIR --videos 1 --duration 3600   # one long video

A thin command line over `aligner.synthetic.generate_dataset`; see sample_data/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from aligner.errors import AlignerError  # noqa: E402

HERE = Path(__file__).resolve().parent


def _duration(text: str) -> float | tuple[float, float]:
    """'30' -> 30.0 seconds; '60-120' -> a range drawn per video."""
    low, _, high = text.partition("-")
    return (float(low), float(high)) if high else float(low)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "htm_sample", help="dataset folder to write")
    p.add_argument("--videos", type=int, default=8, help="number of videos (default 8)")
    p.add_argument("--duration", type=_duration, default=(60.0, 120.0), metavar="S|LOW-HIGH",
                   help="seconds per video, or a range (default 60-120)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--height", type=int, default=216)
    p.add_argument("--fps", type=float, default=12.0)
    p.add_argument("--formats", default=None, metavar="F,F,...",
                   help="subtitle formats cycled over the videos: vtt, youtube, srt, json, caption, "
                        "none (default: every format, two caption.json-only, one without)")  # fmt: skip
    p.add_argument("--no-audio", action="store_true", help="silent narration (no espeak-ng)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from aligner.synthetic import generate_dataset

    try:
        summary = generate_dataset(
            args.out, n_videos=args.videos, seed=args.seed, duration_s=args.duration,
            width=args.width, height=args.height, fps=args.fps, audio=not args.no_audio,
            formats=args.formats.split(",") if args.formats else None,
        )  # fmt: skip
    except AlignerError as err:
        print(f"generate: error: {err}", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
