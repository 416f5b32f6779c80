"""How closely two detector runs of the same subset agree (``--fast`` against fp32): final lists, shortlists,
score ranks, verification values and wall times. ``lexkit sticky --fast`` states these figures, measured with
``bench/bench_sticky.py agreement``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RunAgreement", "compare_runs"]


@dataclass(frozen=True)
class RunAgreement:
    """Agreement of a run (``other``, e.g. ``--fast``) with a reference run (fp32) of the same settings.

    Attributes:
        final: sizes of the reference's and the other run's final lists. final_shared: tokens in both.
        final_jaccard: shared / union of the final lists (1.0 when both are empty).
        final_precision: share of the other run's final tokens that the reference also found (1.0 if empty).
        final_recall: share of the reference's final tokens that the other run also found (1.0 if empty).
        final_identical: the same tokens in the same order.
        shortlist_jaccard: Jaccard of the two shortlists (step 6 candidates).
        score_spearman: rank correlation of the cosine sticky scores of every token scored in both runs
            (None without scores).
        max_verification_difference: largest |difference| of cosine verification values of shared candidates.
        seconds: total wall time of the reference and of the other run.
    """

    final: tuple[int, int]
    final_shared: int
    final_jaccard: float
    final_precision: float
    final_recall: float
    final_identical: bool
    shortlist_jaccard: float
    score_spearman: float | None
    max_verification_difference: float | None
    seconds: tuple[float, float]


def compare_runs(reference: Mapping[str, Any], other: Mapping[str, Any], *,
                 reference_scores: Mapping[int, float] | None = None,
                 other_scores: Mapping[int, float] | None = None) -> RunAgreement:
    """Compare two reports (`StickyTokenReport.to_json` data, or ``lexkit sticky -o X.json`` files read back).

    Args:
        reference: the reference run (fp32). other: the run to judge (``--fast``).
        reference_scores, other_scores: ``{token_id: cosine sticky score}`` of every scored token
            (`StickyTokenDetector.scores`); the score rank agreement needs both.

    Returns:
        The agreement.
    """
    ref_final = [e["token_id"] for e in reference["final"]]
    other_final = [e["token_id"] for e in other["final"]]
    shared = set(ref_final) & set(other_final)
    ref_candidates = {e["token_id"]: e for e in reference["candidates"]}
    differences = [abs(ref_candidates[e["token_id"]]["verification"]["cos"] - e["verification"]["cos"])
                   for e in other["candidates"] if e["token_id"] in ref_candidates]
    spearman = None
    if reference_scores is not None and other_scores is not None:
        common = sorted(set(reference_scores) & set(other_scores))
        if len(common) > 1:
            spearman = round(_spearman([reference_scores[t] for t in common], [other_scores[t] for t in common]), 5)
    return RunAgreement(
        final=(len(ref_final), len(other_final)), final_shared=len(shared),
        final_jaccard=_jaccard(set(ref_final), set(other_final)),
        final_precision=round(len(shared) / len(other_final), 4) if other_final else 1.0,
        final_recall=round(len(shared) / len(ref_final), 4) if ref_final else 1.0,
        final_identical=ref_final == other_final,
        shortlist_jaccard=_jaccard(set(ref_candidates), {e["token_id"] for e in other["candidates"]}),
        score_spearman=spearman,
        max_verification_difference=round(max(differences), 6) if differences else None,
        seconds=(float(reference["timings"]["total"]), float(other["timings"]["total"])))


def _jaccard(a: set[int], b: set[int]) -> float:
    return round(len(a & b) / len(a | b), 4) if a | b else 1.0


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho with average ranks for ties."""
    ranks = [_average_ranks(np.asarray(x, dtype=np.float64)) for x in (a, b)]
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]
