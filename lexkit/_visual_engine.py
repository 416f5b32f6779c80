"""The incremental 2-D pair-merge engine behind visual BPE (Being-VL; Zhang et al., arXiv 2410.02155 and 2506.23639).

The text engine (`lexkit.vocab._merge_engine`) merges adjacent pairs in 1-D words; this engine merges
neighbouring *patches* on 2-D grids of codebook ids and keeps the same three ideas: pair counts are updated
incrementally around each merge (never recounted), a key -> occurrences index finds the places to merge,
and a lazy max-heap finds the most frequent pair.

Model:

- A grid is covered by *slots*; a slot holds one token, which is a patch: a set of ``(dy, dx, code)`` cells
  relative to its *anchor*, the first cell of the patch in raster order. Base tokens are single cells.
- A slot's right neighbour owns the cell right of the slot's last cell in its anchor row; its lower neighbour
  owns the cell below the slot's last cell in its anchor column. An *occurrence* is a slot plus one relation;
  its *key* is ``(a, b, relation, dy, dx)``: the two tokens, ``right`` or ``below``, and the offset of the
  neighbour's anchor from the slot's anchor. Counts are raw adjacency counts, so runs of one code overlap,
  exactly like text BPE pair counts.
- Applying a merge visits the slots of the key's occurrences in raster order of their anchors; a slot and
  its neighbour merge when neither was claimed earlier in the same pass. The merged slot keeps the left or
  upper slot's id, covers both patches and is anchored at the first cell of the union. Encoding replays the
  learned merges with this same function, which is why training and encoding always agree.
- Selection: priority ``P = F / F_max + alpha * S``, where ``F`` is the key's count and ``S`` the spatial
  consistency of the ordered token pair over all its keys (`spatial_consistency`). ``alpha = 0`` is
  frequency-only BPE; ties go to the smaller key ``(a, b, relation, dy, dx)`` with ``right`` before ``below``.

It lives in the core because the `visual` encoder (`lexkit.encoders.visual`) replays merges with it; the
training loop that selects merges is `lexkit.vocab.visual.learn_visual_merges`. Not handled here: input
validation and the `Vocabulary` (see `lexkit.grids`).

Layout and performance notes: all grids live in one flat cell array with a row stride of ``max width + 1``;
the extra column and one extra row before every grid hold the sentinel -1, so neighbour look-ups need no
bounds checks. A slot's id is the flat index of one of its own cells (the one it started on), so slot tables
and cell tables share one index space. Tables are ``array('q')`` (8 bytes per cell instead of a Python int
per cell); keys and heap entries are packed ints, as in the text engine.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "BELOW",
    "RELATIONS",
    "RIGHT",
    "VisualMerge",
    "VisualMergeEngine",
    "MergeStep",
    "Patch",
    "base_patch",
    "encode_grids",
    "spatial_consistency",
    "union_patch",
]

Patch = tuple[tuple[int, int, int], ...]
"""A token's cells ``(dy, dx, code)`` relative to its anchor, sorted; the first cell is ``(0, 0, code)``."""

RIGHT, BELOW = 0, 1
RELATIONS = ("right", "below")
_COUNT_CAP = 1 << 62  # above every count


class VisualMerge(NamedTuple):
    """One merge rule: the slot holding ``left`` and its ``relation`` neighbour holding ``right``, whose anchor
    lies ``(dy, dx)`` from the left slot's anchor, become one slot holding ``result``."""

    left: int
    right: int
    relation: int  # RIGHT or BELOW
    dy: int
    dx: int
    result: int


@dataclass(frozen=True)
class MergeStep:
    """Why a merge was chosen: its count, spatial consistency and priority at selection time."""

    frequency: int
    consistency: float
    priority: float


def base_patch(code: int) -> Patch:
    """The 1 x 1 patch of a base code."""
    return ((0, 0, code),)


def union_patch(left: Patch, right: Patch, dy: int, dx: int) -> Patch:
    """The patch of ``left`` and ``right`` placed with ``right``'s anchor at ``(dy, dx)``, re-anchored.

    Raises:
        ValueError: the two patches overlap at that offset.

    >>> union_patch(base_patch(7), base_patch(7), 0, 1)
    ((0, 0, 7), (0, 1, 7))
    >>> union_patch(((0, 0, 1), (1, 0, 2)), base_patch(3), -1, 1)  # a vertical pair, then a cell above-right
    ((0, 0, 3), (1, -1, 1), (2, -1, 2))
    """
    cells = sorted([*left, *((y + dy, x + dx, code) for y, x, code in right)])
    if len({(y, x) for y, x, _ in cells}) != len(cells):
        raise ValueError(f"patches {left} and {right} overlap at offset ({dy}, {dx})")
    y0, x0, _ = cells[0]
    return tuple((y - y0, x - x0, code) for y, x, code in cells)


def spatial_consistency(placements: Sequence[tuple[int, float, float]], sigma: float) -> float:
    """Being-VL-0.5's spatial consistency ``S`` of one ordered token pair.

    ``S = (1/N) sum_i exp(-|u_i - u_mean|^2 / (2 sigma^2))`` over all ``N`` occurrences, where ``u_i`` is the
    centroid of the second token's patch minus the centroid of the first's. ``S = 1`` when the pair always
    appears in one placement; half right and half below neighbours give ``exp(-1)`` at ``sigma = 0.5``.

    Args:
        placements: ``(count, uy, ux)`` per distinct placement, in a fixed order (the sum is order-sensitive
            in the last bits, and training must be deterministic).
        sigma: the Gaussian width in cells.

    >>> round(spatial_consistency([(5, 0.0, 1.0), (5, 1.0, 0.0)], 0.5), 4) == round(math.exp(-1), 4)
    True
    """
    total = sum(count for count, _, _ in placements)
    mean_y = sum(count * uy for count, uy, _ in placements) / total
    mean_x = sum(count * ux for count, _, ux in placements) / total
    scale = 2.0 * sigma * sigma
    weight = sum(count * math.exp(-((uy - mean_y) ** 2 + (ux - mean_x) ** 2) / scale)
                 for count, uy, ux in placements)
    return weight / total


class VisualMergeEngine:
    """Slots, pair counts, the occurrence index and the heap for a set of grids (see the module docstring).

    Args:
        grids: 2-D integer arrays whose codes are ids of ``patches`` (validated by the caller).
        patches: the patch of every token id known so far (base codes first).
        capacity: an upper bound on the number of token ids the run can reach (sizes the packed keys).
        heap: keep the max-heap for `select` (training); encoding replays merges and needs none.
        spatial: index keys by token pair so that `select` can compute spatial consistency (``alpha > 0``).
    """

    def __init__(self, grids: Sequence[np.ndarray], patches: Sequence[Patch], *, capacity: int,
                 heap: bool = True, spatial: bool = False) -> None:
        if capacity < len(patches):
            raise ValueError(f"capacity {capacity} is below the {len(patches)} known tokens")
        self.shapes = [(int(g.shape[0]), int(g.shape[1])) for g in grids]
        width = max((w for _, w in self.shapes), default=1)
        height = max((h for h, _ in self.shapes), default=1)
        self.stride = stride = width + 1
        # Packed key: a | b | relation | dy + bias | dx + bias, high bits to low (so ints order like tuples).
        self._bias = bias = max(width, height)
        self._offset_bits = ob = (2 * bias + 1).bit_length()
        self._token_bits = tb = max(capacity - 1, 1).bit_length()
        self._relation_shift = 2 * ob
        self._right_shift = 2 * ob + 1
        self._left_shift = 2 * ob + 1 + tb
        self._key_bits = 2 * ob + 1 + 2 * tb

        self.patches: list[Patch] = []
        self._patch_ids: dict[Patch, int] = {}
        self._cells: list[tuple[int, ...]] = []  # flat cell offsets of each token's patch
        self._probes: tuple[list[int], list[int]] = ([], [])  # flat offset of the right / lower probe cell
        self._centroids: list[tuple[float, float]] = []
        for patch in patches:
            self.add_token(patch)

        # Flat layout: a sentinel row, grid 0, a sentinel row, grid 1, ..., a final sentinel row.
        self.grid_starts: list[int] = []
        row = 1
        for h, _ in self.shapes:
            self.grid_starts.append(row * stride)
            row += h + 1
        total = row * stride
        owner = np.full(total, -1, dtype=np.int64)
        tokens = np.zeros(total, dtype=np.int64)
        for start, grid in zip(self.grid_starts, grids):
            h, w = grid.shape
            flat = (start + np.arange(h)[:, None] * stride + np.arange(w)[None, :]).ravel()
            owner[flat] = flat
            tokens[flat] = np.asarray(grid, dtype=np.int64).ravel()
        self._owner = array("q", owner.tobytes())
        self._anchor = array("q", owner.tobytes())
        self._token = array("q", tokens.tobytes())

        self.counts: dict[int, int] = {}
        self._index: dict[int, array[int]] = {}
        # token pair -> its keys with a positive count (tuples: most pairs have one key, and a set costs 4x more)
        self._pairs: dict[int, tuple[int, ...]] | None = {} if spatial else None
        self._count_initial(grids)
        if self._pairs is not None:
            pairs = self._pairs
            for key in self.counts:  # ascending, so every tuple is sorted
                pair = key >> self._right_shift
                pairs[pair] = (*pairs.get(pair, ()), key)
        self._heap: list[int] | None = None
        if heap:
            shift = self._key_bits
            self._heap = [((_COUNT_CAP - count) << shift) | key for key, count in self.counts.items()]
            heapq.heapify(self._heap)

    def _count_initial(self, grids: Sequence[np.ndarray]) -> None:
        """Count every right and lower pair of the base grids (vectorized) and build the occurrence index.

        Every cell holds a 1 x 1 base token here, so the right neighbour is the next cell (offset (0, 1)) and
        the lower neighbour the cell below (offset (1, 0)).
        """
        codes = np.unique(np.concatenate([np.unique(g) for g in grids])) if grids else np.empty(0, np.int64)
        if any(len(self.patches[int(code)]) != 1 for code in codes):
            raise ValueError("grids must hold base codes (1 x 1 tokens); composite token ids cannot be grid cells")
        if self._key_bits > 62:
            raise ValueError(f"packed keys need {self._key_bits} bits; at most 62 are supported (fewer tokens "
                             "or smaller grids)")
        stride, bias, ob, tb = self.stride, self._bias, self._offset_bits, self._token_bits
        keys, occurrences = [], []
        for start, grid in zip(self.grid_starts, grids):
            h, w = grid.shape
            cells = start + np.arange(h, dtype=np.int64)[:, None] * stride + np.arange(w, dtype=np.int64)[None, :]
            grid = np.asarray(grid, dtype=np.int64)
            for relation, left, right, where, (dy, dx) in (
                (RIGHT, grid[:, :-1], grid[:, 1:], cells[:, :-1], (0, 1)),
                (BELOW, grid[:-1, :], grid[1:, :], cells[:-1, :], (1, 0)),
            ):
                packed = ((((((left << tb) | right) << 1) | relation) << ob | (dy + bias)) << ob) | (dx + bias)
                keys.append(packed.ravel())
                occurrences.append((2 * where + relation).ravel())
        all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
        all_occurrences = np.concatenate(occurrences) if occurrences else np.empty(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        unique, first, counts = np.unique(all_keys[order], return_index=True, return_counts=True)
        sorted_occurrences = all_occurrences[order]
        for key, begin, count in zip(unique.tolist(), first.tolist(), counts.tolist()):
            self.counts[key] = count
            self._index[key] = array("q", sorted_occurrences[begin:begin + count].tobytes())

    # ------------------------------------------------------------------------------------------------------
    # tokens and keys
    def add_token(self, patch: Patch) -> int:
        """The id of ``patch``, registering it as a new token when it is new (content stays unique)."""
        known = self._patch_ids.get(patch)
        if known is not None:
            return known
        token_id = len(self.patches)
        self.patches.append(patch)
        self._patch_ids[patch] = token_id
        stride = self.stride
        self._cells.append(tuple(y * stride + x for y, x, _ in patch))
        last_x = max(x for y, x, _ in patch if y == 0)
        last_y = max(y for y, x, _ in patch if x == 0)
        self._probes[RIGHT].append(last_x + 1)
        self._probes[BELOW].append((last_y + 1) * stride)
        size = len(patch)
        self._centroids.append((sum(y for y, _, _ in patch) / size, sum(x for _, x, _ in patch) / size))
        return token_id

    def pack(self, merge: VisualMerge | tuple[int, int, int, int, int]) -> int:
        """The packed key of ``(left, right, relation, dy, dx)``; -1 when it cannot occur on these grids."""
        left, right, relation, dy, dx = merge[:5]
        bias = self._bias
        if not (-bias <= dy <= bias and -bias <= dx <= bias) or max(left, right) >= 1 << self._token_bits:
            return -1
        ob = self._offset_bits
        return ((((((left << self._token_bits) | right) << 1) | relation) << ob | (dy + bias)) << ob) | (dx + bias)

    def unpack(self, key: int) -> tuple[int, int, int, int, int]:
        """``(left, right, relation, dy, dx)`` of a packed key."""
        ob, bias = self._offset_bits, self._bias
        mask = (1 << ob) - 1
        return (key >> self._left_shift, (key >> self._right_shift) & ((1 << self._token_bits) - 1),
                (key >> self._relation_shift) & 1, ((key >> ob) & mask) - bias, (key & mask) - bias)

    def _key_of(self, occurrence: int) -> int:
        """The key of a slot's right (even) or lower (odd) occurrence, or -1 when it has no such neighbour."""
        slot, relation = occurrence >> 1, occurrence & 1
        token = self._token[slot]
        anchor = self._anchor[slot]
        neighbour = self._owner[anchor + self._probes[relation][token]]
        if neighbour < 0:
            return -1
        other = self._anchor[neighbour]
        stride, bias, ob = self.stride, self._bias, self._offset_bits
        dy = other // stride - anchor // stride
        dx = other % stride - anchor % stride
        return ((((((token << self._token_bits) | self._token[neighbour]) << 1) | relation) << ob
                 | (dy + bias)) << ob) | (dx + bias)

    def pair_counts(self) -> dict[tuple[int, int, int, int, int], int]:
        """The current count of every key with occurrences, unpacked (for tests and reports)."""
        return {self.unpack(key): count for key, count in self.counts.items()}

    # ------------------------------------------------------------------------------------------------------
    # selection
    def select(self, *, alpha: float, sigma: float, top_k: int | None,
               min_frequency: int) -> tuple[int, MergeStep] | None:
        """The key to merge next and its step statistics, or None when no key reaches ``min_frequency``.

        Exact argmax of ``F / F_max + alpha * S`` over the ``top_k`` most frequent keys (all when None) without
        scoring every key: entries come off the heap in order of ``F``, and scanning stops once even ``S = 1``
        could not reach the best priority so far. Popped entries go back afterwards.
        """
        heap = self._heap
        if heap is None:
            raise RuntimeError("this engine was built without a heap (heap=False); it can only replay merges")
        shift = self._key_bits
        key_mask = (1 << shift) - 1
        counts = self.counts
        popped: list[int] = []
        best: tuple[float, int, int, float] | None = None  # (priority, key, frequency, consistency)
        top = 0
        while heap:
            entry = heapq.heappop(heap)
            key = entry & key_mask
            frequency = _COUNT_CAP - (entry >> shift)
            current = counts.get(key, 0)
            if current != frequency:
                # Stale. subtle: counts that fall are not pushed (most changes are decrements), so an entry may
                # overestimate its key: put it back with the current count. One that underestimates is dropped:
                # every rise was pushed, so a higher entry of that key exists.
                if 0 < current < frequency:
                    heapq.heappush(heap, ((_COUNT_CAP - current) << shift) | key)
                continue
            if popped and popped[-1] == entry:
                continue  # the same key pushed twice with the same count (equal entries pop one after another)
            popped.append(entry)
            if not top:
                top = frequency
            if frequency < min_frequency:
                break
            if alpha == 0:
                best = (1.0, key, frequency, 0.0)
                break
            if best is not None and frequency / top + alpha < best[0]:
                break
            consistency = self._consistency(key >> self._right_shift, sigma)
            priority = frequency / top + alpha * consistency
            if best is None or priority > best[0] or (priority == best[0] and key < best[1]):
                best = (priority, key, frequency, consistency)
            if top_k is not None and len(popped) >= top_k:
                break
        for entry in popped:
            heapq.heappush(heap, entry)
        if best is None:
            return None
        priority, key, frequency, consistency = best
        return key, MergeStep(frequency=frequency, consistency=consistency, priority=priority)

    def _consistency(self, pair: int, sigma: float) -> float:
        """`spatial_consistency` of the ordered token pair ``pair`` (``a << token_bits | b``)."""
        assert self._pairs is not None, "built with spatial=True when alpha > 0"
        placements = []
        for key in self._pairs[pair]:  # sorted
            left, right, _, dy, dx = self.unpack(key)
            (ay, ax), (by, bx) = self._centroids[left], self._centroids[right]
            placements.append((self.counts[key], dy + by - ay, dx + bx - ax))
        return spatial_consistency(placements, sigma)

    # ------------------------------------------------------------------------------------------------------
    # applying merges
    def apply(self, key: int, result: int) -> int:
        """Merge every occurrence of ``key`` into a slot holding ``result``; returns how many merged.

        ``result`` must be the id of ``union_patch`` of the key's two tokens at the key's offset (the caller
        registers it with `add_token`).
        """
        occurrences = self._index.pop(key, None)
        if not occurrences:
            return 0
        owner, anchor, key_of = self._owner, self._anchor, self._key_of
        # subtle: the index is lazy (entries are never removed when an occurrence changes), so check each one;
        # an occurrence never returns to a key it left, because the patches at both of its ends only grow.
        live = [o for o in occurrences if owner[o >> 1] == o >> 1 and key_of(o) == key]
        live.sort(key=lambda o: anchor[o >> 1])
        probes = self._probes[(key >> self._relation_shift) & 1]
        token = self._token
        claimed: set[int] = set()
        touched: dict[int, int] = {}
        for occurrence in live:
            slot = occurrence >> 1
            if slot in claimed:
                continue
            neighbour = owner[anchor[slot] + probes[token[slot]]]
            if neighbour in claimed:
                continue
            self._merge_slots(slot, neighbour, result, touched)
            claimed.add(slot)
            claimed.add(neighbour)
        self._settle(touched)
        return len(claimed) // 2

    def _merge_slots(self, slot: int, neighbour: int, result: int, touched: dict[int, int]) -> None:
        """Merge two slots into ``slot`` and update every count that changes (the incremental step).

        The occurrences that can change are both slots' own and those of other slots whose probe lands on a
        merged cell; each loses its old key before the slots change and gains its new key after.
        (`_key_of` is inlined in both loops: this is the hottest code of training.)
        """
        owner, anchor, token = self._owner, self._anchor, self._token
        stride, bias, ob, tb = self.stride, self._bias, self._offset_bits, self._token_bits
        probes = self._probes
        probe_right, probe_below = probes
        cells_left = [anchor[slot] + o for o in self._cells[token[slot]]]
        cells_right = [anchor[neighbour] + o for o in self._cells[token[neighbour]]]
        changed = [2 * slot, 2 * slot + 1, 2 * neighbour, 2 * neighbour + 1]
        for cell in cells_left + cells_right:
            other = owner[cell - 1]
            if other >= 0 and other != slot and other != neighbour and \
                    anchor[other] + probe_right[token[other]] == cell:
                changed.append(2 * other)
            other = owner[cell - stride]
            if other >= 0 and other != slot and other != neighbour and \
                    anchor[other] + probe_below[token[other]] == cell:
                changed.append(2 * other + 1)
        counts = self.counts
        for occurrence in changed:
            source, relation = occurrence >> 1, occurrence & 1
            here = anchor[source]
            target = owner[here + probes[relation][token[source]]]
            if target >= 0:
                there = anchor[target]
                key = ((((((token[source] << tb) | token[target]) << 1) | relation) << ob
                        | (there // stride - here // stride + bias)) << ob) | (there % stride - here % stride + bias)
                count = counts[key]
                if key not in touched:
                    touched[key] = count
                counts[key] = count - 1
        for cell in cells_right:
            owner[cell] = slot
        token[slot] = result
        anchor[slot] = min(anchor[slot], anchor[neighbour])
        index = self._index
        for occurrence in changed:
            source, relation = occurrence >> 1, occurrence & 1
            if source == neighbour:
                continue
            here = anchor[source]
            target = owner[here + probes[relation][token[source]]]
            if target >= 0:
                there = anchor[target]
                key = ((((((token[source] << tb) | token[target]) << 1) | relation) << ob
                        | (there // stride - here // stride + bias)) << ob) | (there % stride - here % stride + bias)
                count = counts.get(key, 0)
                if key not in touched:
                    touched[key] = count
                counts[key] = count + 1
                entries = index.get(key)
                if entries is None:
                    index[key] = array("q", (occurrence,))
                else:
                    entries.append(occurrence)

    def _settle(self, touched: dict[int, int]) -> None:
        """After a merge pass: drop zero counts, push risen counts on the heap, keep the pair index.

        Invariant of the lazy heap: every key with a positive count has an entry at least as high as its count.
        """
        counts, heap, pairs = self.counts, self._heap, self._pairs
        shift = self._key_bits
        for key, before in touched.items():
            count = counts[key]
            if count == 0:
                del counts[key]
                self._index.pop(key, None)
                if pairs is not None and before > 0:  # (a key born and dead within this pass was never listed)
                    pair = key >> self._right_shift
                    group = tuple(k for k in pairs[pair] if k != key)
                    if group:
                        pairs[pair] = group
                    else:
                        del pairs[pair]
                continue
            if pairs is not None and before == 0:
                pair = key >> self._right_shift
                pairs[pair] = tuple(sorted((*pairs.get(pair, ()), key)))
            if heap is not None and count > before:
                heapq.heappush(heap, ((_COUNT_CAP - count) << shift) | key)

    # ------------------------------------------------------------------------------------------------------
    # output
    def sequences(self) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Each grid's tokens and anchor ``(row, col)`` positions, in raster order of the anchors."""
        owner, anchor, token = self._owner, self._anchor, self._token
        out = []
        for start, (h, w) in zip(self.grid_starts, self.shapes):
            ids: list[int] = []
            positions: list[tuple[int, int]] = []
            for y in range(h):
                base = start + y * self.stride
                for cell in range(base, base + w):
                    slot = owner[cell]
                    if anchor[slot] == cell:
                        ids.append(token[slot])
                        positions.append((y, cell - base))
            out.append((ids, positions))
        return out


def encode_grids(grids: Sequence[np.ndarray], patches: Sequence[Patch],
                 merges: Sequence[VisualMerge]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Replay ``merges`` in rank order on ``grids`` (the training rule) and list each grid's tokens.

    Args:
        grids: validated 2-D arrays of base codes.
        patches: the patch of every token id of the vocabulary.
        merges: the merge rules in rank order.

    Returns:
        Per grid: token ids and anchor ``(row, col)`` positions in raster order of the anchors.
    """
    engine = VisualMergeEngine(grids, patches, capacity=len(patches), heap=False)
    for merge in merges:
        key = engine.pack(merge)
        if key in engine.counts:
            engine.apply(key, merge.result)
    return engine.sequences()
