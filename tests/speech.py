"""Word error rate, for tests that check Whisper's output by a bound any correct run meets
(int8 kernels differ by CPU: the exact words do too)."""

from __future__ import annotations

PUNCTUATION = ".,!?;:\"'"


def words(text: str) -> list[str]:
    """Lower-case words without the punctuation Whisper adds."""
    return [w.strip(PUNCTUATION).lower() for w in text.split() if w.strip(PUNCTUATION)]


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + insertions + deletions) / len(reference): word-level edit distance."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ref != hyp))
    return row[-1] / max(1, len(reference))
