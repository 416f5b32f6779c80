"""Merge lists for formats that store none: every split of a token into two tokens becomes a merge.

sentencepiece keeps only piece scores and tiktoken only ranks; HF's BPE engine needs an ordered merge list. Both
converters build it here (`derive_merges`) and differ only in the order they visit tokens and their splits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from lexkit.vocabulary import Merge

__all__ = ["derive_merges"]

T = TypeVar("T", str, bytes)


def derive_merges(ordered: Iterable[T], ids: Mapping[T, int], *,
                  split_order: Literal["position", "ids"]) -> tuple[tuple[Merge, ...], list[T]]:
    """Merges that build each token of ``ordered`` from two tokens: every cut whose two sides are in ``ids``.

    Tokens are visited in the given order (the format's priority). The splits of one token come left part
    shortest first (``"position"``, sentencepiece) or sorted by (left id, right id) (``"ids"``, as transformers'
    ``TikTokenConverter``). Cost: one lookup per character or byte boundary of every token, no scan over pairs.

    Returns:
        The ``(left_id, right_id)`` merges, and the tokens reachable by two overlapping splits (``x+y = y+z``),
        where a merge list and a rank rule may cut rare inputs differently.

    >>> derive_merges(["ab", "abc"], {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5}, split_order="ids")
    (((0, 1), (0, 4), (3, 2)), [])
    """
    get = ids.get
    merges: list[Merge] = []
    ambiguous: list[T] = []
    for token in ordered:
        local: list[tuple[int, int]] = []
        positions: list[int] = []
        for cut in range(1, len(token)):
            left = get(token[:cut])
            if left is None:
                continue
            right = get(token[cut:])
            if right is not None:
                local.append((left, right))
                positions.append(cut)
        if len(local) > 1:
            if split_order == "ids":
                local.sort()
            if _has_overlapping_splits(token, positions):
                ambiguous.append(token)
        merges.extend(local)
    return tuple(merges), ambiguous


def _has_overlapping_splits(token: str | bytes, positions: list[int]) -> bool:
    """Whether ``token = x+y = y+z`` with both splits valid and different (y a border of the token)."""
    n = len(token)
    valid = set(positions)
    return any(n - cut in valid and 2 * cut != n and token[:cut] == token[n - cut:] for cut in positions)
