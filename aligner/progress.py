"""The overall progress display of a multi-stage command (`aligner auto-align`).

One tqdm bar over the stages (stage k/n, elapsed, ETA) on stderr, with each stage's own
per-video bar below it; without a terminal (or with `enabled=False`) one line per finished stage
instead. It also times the stages: `timings[name]` seconds, `spans[name]` perf_counter bounds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class StageProgress:
    def __init__(self, name: str, stages: Sequence[str], enabled: bool | None = None):
        """`enabled`: draw bars (None: only when stderr is a terminal)."""
        self.name, self.stages = name, tuple(stages)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.timings: dict[str, float] = {}
        self.spans: dict[str, tuple[float, float]] = {}
        self._bar = None

    @property
    def inner(self) -> bool:
        """Whether the stages should draw their own bars below the overall one."""
        return self.enabled

    def __enter__(self) -> StageProgress:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=len(self.stages), desc=self.name, unit="stage",
                             file=sys.stderr, position=0, dynamic_ncols=True)  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def postfix(self, text: str) -> None:
        """A short status after the overall bar (e.g. "7/8 videos with sentences")."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    @contextmanager
    def stage(self, name: str) -> Iterator[Callable[[Any], None]]:
        """Time one stage and advance the bar; yields `note(obj)`: lines (`str(obj)`) printed
        under the stage's "done" line when it finishes."""
        number = f"[{self.stages.index(name) + 1}/{len(self.stages)}"
        if self._bar is not None:
            self._bar.set_description(f"{self.name} {number} {name}]")
        notes: list[str] = []
        started = time.perf_counter()
        yield lambda obj: notes.append(str(obj))
        self.spans[name] = (started, time.perf_counter())
        self.timings[name] = self.spans[name][1] - started
        if self._bar is not None:
            self._bar.update(1)
        self._write(f"{self.name}: {number}] {name} done in {self.timings[name]:.1f} s")
        for note in notes:
            self._write(f"  {note}")

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)
