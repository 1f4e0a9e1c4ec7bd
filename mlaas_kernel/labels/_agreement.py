"""Agreement between annotators: Cohen's kappa (two), Fleiss' kappa (more), consensus."""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Mapping, Sequence


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two annotators' labels for the same items (in the same order).

    kappa = (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the agreement
    expected from each annotator's label frequencies (Cohen, 1960). 1.0 when both always
    agree on a single label.
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} labels against {len(b)}; pass the same items in the same order")
    n = len(a)
    if n == 0:
        raise ValueError("cohen_kappa: no items labeled by both annotators")
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return 1.0 if p_e == 1 else (p_o - p_e) / (1 - p_e)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from an items x categories table of how many raters chose each.

    Every item needs the same number of raters n >= 2 (Fleiss, 1971).
    """
    if not counts:
        raise ValueError("fleiss_kappa: no items")
    n = sum(counts[0])
    if n < 2 or any(sum(row) != n for row in counts):
        raise ValueError("fleiss_kappa: every item needs the same number (at least 2) of ratings")
    big_n = len(counts)
    k = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (big_n * n) for j in range(k)]
    p_i = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in counts]
    p_bar = sum(p_i) / big_n
    p_e = sum(p * p for p in p_j)
    return 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)


def consensus(labels_by_item: Mapping[int, Mapping[str, str]]) -> dict[int, str | None]:
    """The majority label of each item; ``None`` where the top labels tie."""
    out: dict[int, str | None] = {}
    for item, by_annotator in labels_by_item.items():
        ranked = Counter(by_annotator.values()).most_common()
        out[item] = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None
    return out


def disagreements(labels_by_item: Mapping[int, Mapping[str, str]]) -> dict[int, dict[str, str]]:
    """Items that annotators labeled differently, with each one's label."""
    return {item: dict(by) for item, by in labels_by_item.items() if len(set(by.values())) > 1}
