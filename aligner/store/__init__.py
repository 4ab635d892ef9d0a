"""The DuckDB store: one file per dataset workspace; all SQL of the project lives in this package.

`Store` is composed of one mixin per area so each module stays small:
  core.py      connection, lock message, migrations, transactions
  catalog.py   videos and sentences (written by ingest)
  runs.py      runs and predictions (written by train / predict / auto-align)
  review.py    labels, label history, claims, review queue (written by the review app)
  curators.py  each curator's place, presence on a video, sign-in sessions
  adjudication.py  disagreements between curators and their resolution
  edits.py     curators' fixes of a sentence's words, with history
  exports.py   joins behind the cleaned-dataset export
  scale.py     set-based queries for batch work: manifest, Parquet import, partitioned export
"""

from __future__ import annotations

from aligner.store.adjudication import AdjudicationQueries
from aligner.store.catalog import CatalogQueries
from aligner.store.core import StoreCore
from aligner.store.curators import CuratorQueries
from aligner.store.edits import TextEditQueries
from aligner.store.exports import ExportQueries
from aligner.store.review import ReviewQueries
from aligner.store.runs import RunQueries
from aligner.store.scale import ScaleQueries


class Store(
    CatalogQueries,
    RunQueries,
    ReviewQueries,
    CuratorQueries,
    AdjudicationQueries,
    TextEditQueries,
    ExportQueries,
    ScaleQueries,
    StoreCore,
):
    """`Store(path)` opens (creating and migrating) the DuckDB file at `path`."""


__all__ = ["Store"]
