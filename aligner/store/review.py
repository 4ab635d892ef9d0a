"""Human labels, their append-only history, claims and the review queue. Owned by the review app issue."""

from __future__ import annotations


class ReviewQueries:
    pass
