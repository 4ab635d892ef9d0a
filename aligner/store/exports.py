"""Queries behind the cleaned-dataset export. Owned by the export issue."""

from __future__ import annotations


class ExportQueries:
    pass
