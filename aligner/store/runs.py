"""Runs (train / predict / auto-align) and per-sentence predictions. Owned by the model issue."""

from __future__ import annotations


class RunQueries:
    pass
