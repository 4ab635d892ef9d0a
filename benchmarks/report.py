"""What every benchmark writes: its figures as JSON under benchmarks/results/, with the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def write_results(path: Path, benchmark: str, rows: list[dict[str, Any]]) -> None:
    """`{"benchmark", "machine", "cpus", "rows"}` to `path`, then say where it went."""
    result = {"benchmark": benchmark, "machine": f"{platform.machine()} {platform.python_version()}",
              "cpus": os.cpu_count(), "rows": rows}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO)}")
