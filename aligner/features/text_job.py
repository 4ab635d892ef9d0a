"""Sentence encoding in a child process, side by side with the video pass.

On one video, loading the text model (importing torch + transformers, reading the weights) costs
as much as decoding ten minutes of 360p video, and both are single-core work: running them at
once on two cores is what brings `aligner features` close to a bare ffmpeg decode
(benchmarks/bench_features_command.py). A plain `python -m` child, not multiprocessing: it
never re-imports the parent's main module, and it exits by itself when done (a killed parent
leaves no idle worker behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aligner.errors import AlignerError


def check_available(name: str) -> None:
    """Fail now, in this process, when the text model named `name` cannot be loaded: the bundled
    package missing, a path that is no model directory, a hub name not in the local cache.
    Cheap (no torch, no weights); the child's own load is the final word."""
    from aligner.features.text import DEFAULT_TEXT
    from aligner.features.visual import cannot_load

    if name == DEFAULT_TEXT:
        from aligner.features.text import _resolve

        _resolve(name)  # the one-line error when the package is missing
        return
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return
    if not path.exists() and name.count("/") <= 1 and not name.startswith((".", "/", "~")):
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return
    raise cannot_load("text", name, FileNotFoundError(f"no config.json for {name}"))


class TextJob:
    """`encode_missing(get_text_encoder(name), texts, folder)` running in a child process
    (saving the cache every `TEXT_SAVE_EVERY` sentences, as this process would)."""

    def __init__(self, name: str, texts: list[str], folder: Path):
        from aligner.features import text

        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aligner.features.text_job", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        # the texts go through a pipe; the child reads them all before doing anything
        assert self.proc.stdin is not None
        job = {"name": name, "texts": texts, "folder": str(folder),
               "save_every": text.TEXT_SAVE_EVERY}  # fmt: skip
        self.proc.stdin.write(json.dumps(job).encode())
        self.proc.stdin.close()
        self.proc.stdin = None  # closed: `communicate` must not flush it again

    def check(self) -> None:
        """Raise now if the child already failed (e.g. the model cannot load): a run fails on
        its first video, not after hours of them."""
        if self.proc.poll() not in (None, 0):
            self.result()

    def result(self) -> int:
        """Wait for the child; the number of sentences it encoded."""
        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines() or ["no output"]
            raise AlignerError(f"{self.name}: text encoding failed ({lines[-1]})")
        return int(json.loads(out)["encoded"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def main() -> None:
    from aligner.lifeline import die_with_parent

    # first, before the slow imports: a SIGKILLed features run leaves no encoder behind (the
    # parent's pid comes on the command line: once it is dead, getppid() names init instead)
    die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    import torch

    from aligner.features.text import encode_missing, get_text_encoder

    # one thread: the parent's video pass holds the other core, and two torch threads on one
    # free core spin-wait on each other (see aligner.pipeline.TORCH_THREADS)
    torch.set_num_threads(1)
    job = json.loads(sys.stdin.buffer.read())
    try:
        encoder = get_text_encoder(job["name"])
        encoded = encode_missing(encoder, job["texts"], Path(job["folder"]),
                                 save_every=job.get("save_every"))  # fmt: skip
    except AlignerError as err:
        print(f"AlignerError: {err}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"encoded": encoded}))


if __name__ == "__main__":
    main()
