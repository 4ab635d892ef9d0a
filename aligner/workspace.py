"""Where the tool writes for a dataset: `DATASET/.aligner/` unless `--db` points elsewhere.

The workspace is the folder holding the DuckDB file; caches (features, similarity matrices,
checkpoints, logs) live beside it so that a `--db` elsewhere moves everything together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aligner.errors import AlignerError

WORKSPACE_DIRNAME = ".aligner"
DB_FILENAME = "aligner.duckdb"


@dataclass(frozen=True)
class Workspace:
    dataset: Path  # the dataset folder (videos/, subtitles/, ...)
    db_path: Path  # the DuckDB file

    @property
    def root(self) -> Path:
        return self.db_path.parent

    def subdir(self, *parts: str) -> Path:
        """A folder inside the workspace, created on first use (features, similarity, checkpoints...)."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def open_workspace(dataset: str | Path, db: str | Path | None = None) -> Workspace:
    """Resolve the dataset folder and the DuckDB path; the dataset folder must exist."""
    dataset = Path(dataset).expanduser().resolve()
    if not dataset.is_dir():
        raise AlignerError(f"{dataset}: dataset folder does not exist")
    db_path = Path(db).expanduser().resolve() if db else dataset / WORKSPACE_DIRNAME / DB_FILENAME
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return Workspace(dataset=dataset, db_path=db_path)
