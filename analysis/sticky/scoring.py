"""Pure kernels of steps 0 and 5-8: distances, the sticky score, verification, the cuts, insertion texts.

Shapes are in the docstrings; nothing here touches a model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np

from lexkit.analysis.sticky.config import METRICS
from lexkit.analysis.sticky.results import (
    FinalCut,
    ScoreRow,
    SimilarityStats,
    StickyEntry,
    TokenInfo,
    VerificationRow,
)
from lexkit.errors import LexkitError

__all__ = [
    "distances", "pair_mode_scores", "verification_successes", "shortlist_threshold", "final_cut",
    "insertion_texts", "draw_positions", "similarity_stats", "rank_entries",
]


def distances(anchor: np.ndarray, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Cosine, Euclidean and Manhattan distance between ``vectors (..., D)`` and ``anchor`` broadcast to them.

    Args:
        anchor: ``(..., D)``, broadcastable against ``vectors``.
        vectors: ``(..., D)``.

    Returns:
        ``{"cos": 1 - cosine, "euc": L2, "man": L1}``, each of the broadcast shape without ``D``.
    """
    anchor = np.asarray(anchor, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    dot = (anchor * vectors).sum(-1)
    norms = np.linalg.norm(anchor, axis=-1) * np.linalg.norm(vectors, axis=-1)
    diff = vectors - anchor
    return {"cos": 1.0 - dot / np.maximum(norms, 1e-12), "euc": np.linalg.norm(diff, axis=-1),
            "man": np.abs(diff).sum(-1)}


def pair_mode_scores(d0: np.ndarray, d: np.ndarray, token_distance: np.ndarray, *, alpha: float, beta: float,
                     gamma: float) -> np.ndarray:
    """The per-(pair, mode) sticky score of step 5.

    With Δ_k = d_k - d_(k-1): F sums |Δ_k| over falls, nF counts falls, R sums rises, nR counts rises, and
    score = (F + α·nF + α·tokdist) / (R + β·nR + γ).

    Args:
        d0: ``(...)`` distance of s1 and s2 before insertion.
        d: ``(..., K)`` distances after k = 1..K insertions.
        token_distance: ``(...)`` distance of the token alone to s1.
        alpha, beta, gamma: the constants of the distance in use.

    Returns:
        ``(...)`` scores.
    """
    d = np.asarray(d)
    start = np.broadcast_to(np.asarray(d0)[..., None], (*d.shape[:-1], 1))
    steps = np.diff(np.concatenate([start, d], axis=-1), axis=-1)
    falls = steps < 0
    rises = steps > 0
    fall = np.where(falls, -steps, 0.0).sum(-1)
    rise = np.where(rises, steps, 0.0).sum(-1)
    scores: np.ndarray = (fall + alpha * falls.sum(-1) + alpha * token_distance) / (rise + beta * rises.sum(-1) + gamma)
    return scores


def verification_successes(d0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Step 7's success test: the mean distance over k = 1..K fell below the distance before insertion.

    Args:
        d0: ``(...)``. d: ``(..., K)``.

    Returns:
        ``(...)`` booleans.
    """
    successes: np.ndarray = np.asarray(d).mean(-1) - d0 < 0
    return successes


def shortlist_threshold(scores: Sequence[float], percentile: float = 98.0) -> float:
    """The score at ``percentile`` (linear interpolation) of all scores; candidates score at least this."""
    if not len(scores):
        raise LexkitError("no token was scored, so there is no shortlist; check that the tokenizer has "
                          "tokens of category OK (categorize_tokens) and that max_tokens is not 0")
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile))


def final_cut(values: Sequence[float], iqr_factor: float = 0.7) -> FinalCut:
    """Step 8: Q1 and Q3 (linear percentiles) of the verification values and the cut Q3 + factor · IQR."""
    if not len(values):
        raise LexkitError("no candidate was verified, so the final cut is undefined; score at least one token "
                          "(check max_tokens and the token categories)")
    q1, q3 = (float(q) for q in np.percentile(np.asarray(values, dtype=np.float64), [25, 75]))
    return FinalCut(q1=q1, q3=q3, iqr=q3 - q1, cut=q3 + iqr_factor * (q3 - q1))


def insertion_texts(token: str, sentence: str, positions: Sequence[int], *,
                    separator: str = "") -> dict[str, list[str]]:
    """The K texts of each mode for one token and one sentence s2.

    prefix: the token k times, then s2; suffix: s2, then the token k times (joined by ``separator``, the
    authors' ``""``). random: the token inserted as a separate word at ``positions[k-1]`` of the growing
    word list of s2 (cumulative), re-joined with single spaces.

    Args:
        token: the inserted string. sentence: s2. positions: K insertion positions, drawn beforehand.
        separator: text between repeats and s2 in prefix/suffix mode.

    Returns:
        ``{"prefix": [...], "suffix": [...], "random": [...]}``, K texts each.
    """
    texts: dict[str, list[str]] = {"prefix": [], "suffix": [], "random": []}
    words = sentence.split()
    for k, position in enumerate(positions, start=1):
        repeated = separator.join([token] * k)
        texts["prefix"].append(repeated + separator + sentence)
        texts["suffix"].append(sentence + separator + repeated)
        words.insert(position, token)
        texts["random"].append(" ".join(words))
    return texts


def draw_positions(rng: random.Random, sentence: str, insertions: int) -> list[int]:
    """Random insertion positions for one (token, pair): the k-th is uniform over the k-th word list's gaps."""
    length = len(sentence.split())
    return [rng.randint(0, length + k) for k in range(insertions)]


def similarity_stats(vectors: np.ndarray, *, block: int = 2048) -> SimilarityStats:
    """Mean, median (histogram, bin 1e-4) and std of the cosine similarity over all ordered pairs of ``vectors
    (N, D)``, self-pairs included, computed block by block without the ``(N, N)`` matrix."""
    unit = vectors.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    n = len(unit)
    total = unit.sum(0)
    mean = float(total @ total) / (n * n)
    squares = 0.0
    bins = np.zeros(20001, dtype=np.int64)
    for start in range(0, n, block):
        sims = unit[start:start + block] @ unit.T
        squares += float((sims * sims).sum())
        bins += np.bincount(np.clip(np.rint((sims.ravel() + 1.0) * 1e4), 0, 20000).astype(np.int64),
                            minlength=20001)
    cumulative = np.cumsum(bins)
    median = float(np.searchsorted(cumulative, (n * n) / 2.0)) / 1e4 - 1.0
    return SimilarityStats(mean=mean, median=median, std=math.sqrt(max(squares / (n * n) - mean * mean, 0.0)),
                           count=n)


def rank_entries(tokens: Sequence[TokenInfo], scores: Mapping[int, ScoreRow],
                 verified: Mapping[int, VerificationRow]) -> list[StickyEntry]:
    """Report rows for ``tokens``, best cosine verification first (ties: higher score first, then id)."""
    ordered = sorted(tokens, key=lambda t: (-verified[t.token_id].cos, -scores[t.token_id].cos, t.token_id))
    return [StickyEntry(token_id=t.token_id, token=t.text, raw=t.raw, category=t.category.value, kind=t.kind,
                        score=scores[t.token_id].cos, score_euclidean=scores[t.token_id].euc,
                        score_manhattan=scores[t.token_id].man,
                        verification={m: getattr(verified[t.token_id], m) for m in METRICS}, rank=rank)
            for rank, t in enumerate(ordered, start=1)]
