"""Steps 1-3: prose sentences from a corpus, the seeded sample, and sentence pairs spread over the similarity range."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lexkit.analysis.sticky.results import SentencePair
from lexkit.errors import LexkitError

__all__ = ["split_sentences", "sample_sentences", "spread_pairs", "pick_below_mean", "read_pairs_csv"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]*[.,;:!?\"')]*$")


def split_sentences(text: str, *, min_words: int = 5, max_words: int = 40) -> list[str]:
    """Prose sentences of ``min_words``-``max_words`` words from ``text`` (code, tables and lists dropped).

    A sentence starts with a capital letter, ends with ``.``, ``!`` or ``?``, and at least 80 % of its words
    are ordinary words (letters with trailing punctuation), which keeps prose and drops code and markup.

    Args:
        text: any text; paragraphs are separated by blank lines.
        min_words, max_words: the length window (the spec's 5-40).

    Returns:
        Sentences with whitespace collapsed, in text order (duplicates kept).
    """
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        for sentence in _SENTENCE_END.split(flat):
            words = sentence.split()
            if not (min_words <= len(words) <= max_words) or not sentence[:1].isupper():
                continue
            if not sentence.endswith((".", "!", "?")):
                continue
            if sum(bool(_WORD.match(w)) for w in words) >= 0.8 * len(words):
                sentences.append(sentence)
    return sentences


def sample_sentences(sentences: Iterable[str], count: int, seed: int) -> list[str]:
    """De-duplicate, sort (so the sample does not depend on hash order) and sample ``count`` without
    replacement with ``numpy.random.default_rng(seed)``; fewer when the pool is smaller."""
    pool = sorted(set(sentences))
    if len(pool) < 3:
        raise LexkitError(f"only {len(pool)} distinct sentences were found, too few to form pairs; pass a larger "
                          "corpus or sentence file (one sentence per line), e.g. --sentences FILE")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pool[i] for i in picked]


def spread_pairs(similarity: np.ndarray, count: int) -> list[tuple[int, int, float]]:
    """Step 2: ``count`` pairs (i < j) spread evenly over the similarity range, nearest not-yet-taken pair per
    target (targets min + i · (max - min) / (count - 1)).

    Args:
        similarity: ``(N, N)`` symmetric similarity matrix of the sampled sentences.
        count: how many pairs.

    Returns:
        ``[(i, j, similarity)]`` in target order.
    """
    rows, cols = np.triu_indices(similarity.shape[0], k=1)
    values = similarity[rows, cols].astype(np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    taken = np.zeros(len(values), dtype=bool)
    count = min(count, len(values))
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    targets = [low + i * (high - low) / max(count - 1, 1) for i in range(count)]
    chosen = []
    for target in targets:
        position = _nearest_free(sorted_values, taken, target)
        taken[position] = True
        pair = order[position]
        chosen.append((int(rows[pair]), int(cols[pair]), float(values[pair])))
    return chosen


def _nearest_free(sorted_values: np.ndarray, taken: np.ndarray, target: float) -> int:
    """Index of the untaken value nearest ``target`` in ascending ``sorted_values`` (lower one on ties)."""
    right = int(np.searchsorted(sorted_values, target))
    left = right - 1
    while left >= 0 and taken[left]:
        left -= 1
    while right < len(sorted_values) and taken[right]:
        right += 1
    if left < 0:
        return right
    if right >= len(sorted_values):
        return left
    return left if target - sorted_values[left] <= sorted_values[right] - target else right


def pick_below_mean(pairs: Sequence[SentencePair], mean: float, count: int, *, pair_range: float = 0.8,
                    allow_repeats: bool = True) -> tuple[list[SentencePair], float, float]:
    """Step 3: pairs below μ in [min, min + pair_range · (μ - min)], the nearest one to each of ``count``
    evenly spaced targets (repeats allowed unless ``allow_repeats`` is False).

    Returns:
        (pairs, low, high).

    Raises:
        LexkitError: no pair lies below μ.
    """
    below = [p for p in pairs if p.similarity < mean]
    if not below:
        raise LexkitError(f"no sentence pair has a similarity below the mean similarity {mean:.4f}, so no pair "
                          "can show stickiness; pass more or more varied sentences (e.g. --sentences FILE)")
    low = min(p.similarity for p in below)
    high = low + pair_range * (mean - low)
    eligible = sorted((p for p in below if p.similarity <= high), key=lambda p: p.similarity)
    values = np.array([p.similarity for p in eligible])
    taken = np.zeros(len(eligible), dtype=bool)
    chosen = []
    for target in np.linspace(low, high, count):
        if allow_repeats:
            position = int(np.argmin(np.abs(values - target)))
        else:
            if taken.all():
                break
            position = _nearest_free(values, taken, float(target))
            taken[position] = True
        chosen.append(eligible[position])
    return chosen, low, high


def read_pairs_csv(path: str | Path) -> list[tuple[str, str]]:
    """Read the authors' ``sampled_sentence_pairs.csv`` (columns ``sentence1`` and ``sentence2``).

    Raises:
        LexkitError: the file is missing or lacks the two columns.
    """
    import csv

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise LexkitError(f"{path}: cannot read the pairs file ({exc.strerror}); pass an existing CSV") from None
    if not rows or not {"sentence1", "sentence2"} <= set(rows[0]):
        raise LexkitError(f"{path}: no 'sentence1' and 'sentence2' columns (found {sorted(rows[0]) if rows else []});"
                          " pass the authors' sampled_sentence_pairs.csv or a CSV with those two columns")
    return [(row["sentence1"], row["sentence2"]) for row in rows]
