"""The DuckDB store: one file per dataset workspace; all SQL of the project lives in this package.

`Store` is composed of one mixin per area so each module stays small:
  core.py      connection, lock message, migrations, transactions
  catalog.py   videos and sentences (written by ingest)
  runs.py      runs and predictions (written by train / predict / auto-align)
  review.py    labels, label history, claims, review queue (written by the review app)
  exports.py   joins behind the cleaned-dataset export
"""

from __future__ import annotations

from aligner.store.catalog import CatalogQueries
from aligner.store.core import StoreCore
from aligner.store.exports import ExportQueries
from aligner.store.review import ReviewQueries
from aligner.store.runs import RunQueries


class Store(CatalogQueries, RunQueries, ReviewQueries, ExportQueries, StoreCore):
    """`Store(path)` opens (creating and migrating) the DuckDB file at `path`."""


__all__ = ["Store"]
