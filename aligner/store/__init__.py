"""The DuckDB store: one file per dataset workspace; all SQL of the project lives in this package.

`Store` is composed of one mixin per area so each module stays small:
  core.py      connection, lock message, migrations, transactions
  catalog.py   videos and sentences (written by ingest)
  runs.py      runs and predictions (written by train / predict / auto-align)
  review.py    labels, label history, claims, review queue (written by the review app)
  exports.py   joins behind the cleaned-dataset export
  scale.py     set-based queries for batch work: manifest, Parquet import, partitioned export
"""

from __future__ import annotations

from pathlib import Path

from aligner.store.catalog import CatalogQueries
from aligner.store.core import StoreCore
from aligner.store.exports import ExportQueries
from aligner.store.review import ReviewQueries
from aligner.store.runs import RunQueries
from aligner.store.scale import ScaleQueries


class Store(CatalogQueries, RunQueries, ReviewQueries, ExportQueries, ScaleQueries, StoreCore):
    """`Store(path)` opens (creating and migrating) the DuckDB file at `path`."""


def open_store(path: str | Path, *, read_only: bool = False) -> Store:
    return Store(path, read_only=read_only)


__all__ = ["Store", "open_store"]
