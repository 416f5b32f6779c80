"""The incremental 2-D merge engine against a brute-force reference that recounts everything every merge.

The reference below is written independently of ``lexkit._visual_engine``: explicit slot objects with cell
sets on (row, col) coordinates, a full recount of every neighbour pair before each merge, and a merge pass
that looks at each slot's *current* neighbour as it goes (the engine instead merges a precomputed occurrence
list and skips claimed slots; the two must agree). Only the formula for spatial consistency is shared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexkit._visual_engine import (
    VisualMergeEngine,
    base_patch,
    encode_grids,
    spatial_consistency,
    union_patch,
)
from lexkit.vocab.visual import learn_visual_merges

Key = tuple[int, int, int, int, int]  # (left, right, relation, dy, dx); relation 0 = right, 1 = below


@dataclass
class Slot:
    token: int
    cells: set[tuple[int, int]]

    @property
    def anchor(self) -> tuple[int, int]:
        return min(self.cells)


class ReferenceGrid:
    def __init__(self, grid: np.ndarray) -> None:
        self.height, self.width = grid.shape
        self.owner: dict[tuple[int, int], Slot] = {}
        for row in range(self.height):
            for col in range(self.width):
                self.owner[row, col] = Slot(int(grid[row, col]), {(row, col)})

    def slots(self) -> list[Slot]:
        unique = {id(slot): slot for slot in self.owner.values()}
        return sorted(unique.values(), key=lambda slot: slot.anchor)

    def neighbour(self, slot: Slot, relation: int) -> Slot | None:
        row, col = slot.anchor
        if relation == 0:
            probe = (row, max(c for r, c in slot.cells if r == row) + 1)
        else:
            probe = (max(r for r, c in slot.cells if c == col) + 1, col)
        return self.owner.get(probe)

    def occurrences(self) -> list[tuple[Slot, Slot, Key]]:
        out = []
        for slot in self.slots():
            for relation in (0, 1):
                other = self.neighbour(slot, relation)
                if other is not None:
                    (ay, ax), (by, bx) = slot.anchor, other.anchor
                    out.append((slot, other, (slot.token, other.token, relation, by - ay, bx - ax)))
        return out


def centroid(patch) -> tuple[float, float]:
    return sum(y for y, _, _ in patch) / len(patch), sum(x for _, x, _ in patch) / len(patch)


def reference_train(grids, codebook_size, *, num_merges, alpha=0.0, sigma=0.5, top_k=None, min_frequency=1,
                    check=None):
    """Brute force: recount, select, merge; ``check(counts)`` sees each full recount before its merge."""
    states = [ReferenceGrid(g) for g in grids]
    patches = [base_patch(code) for code in range(codebook_size)]
    ids = {patch: i for i, patch in enumerate(patches)}
    merges = []
    for _ in range(num_merges):
        counts = Counter(key for state in states for _, _, key in state.occurrences())
        if check is not None:
            check(dict(counts))
        ranked = sorted((key for key in counts if counts[key] >= min_frequency), key=lambda k: (-counts[k], k))
        if not ranked:
            break
        top = counts[ranked[0]]
        shortlist = ranked[:top_k] if top_k is not None else ranked
        if alpha == 0:
            chosen = shortlist[0]
        else:
            def priority(key: Key, counts: Counter = counts, top: int = top) -> float:
                placements = []
                for other in sorted(k for k in counts if k[:2] == key[:2]):
                    ca, cb = centroid(patches[other[0]]), centroid(patches[other[1]])
                    placements.append((counts[other], other[3] + cb[0] - ca[0], other[4] + cb[1] - ca[1]))
                return counts[key] / top + alpha * spatial_consistency(placements, sigma)

            chosen = min(shortlist, key=lambda k: (-priority(k), k))
        left, right, relation, dy, dx = chosen
        patch = union_patch(patches[left], patches[right], dy, dx)
        if patch not in ids:
            ids[patch] = len(patches)
            patches.append(patch)
        result = ids[patch]
        for state in states:
            claimed: set[int] = set()
            for slot in state.slots():  # raster order of anchors at the start of the pass
                if id(slot) in claimed or slot.token != left:
                    continue
                other = state.neighbour(slot, relation)  # the neighbour *now*, after earlier merges
                if other is None or id(other) in claimed or other.token != right:
                    continue
                if (other.anchor[0] - slot.anchor[0], other.anchor[1] - slot.anchor[1]) != (dy, dx):
                    continue
                slot.cells |= other.cells
                slot.token = result
                for cell in other.cells:
                    state.owner[cell] = slot
                claimed |= {id(slot), id(other)}
        merges.append((*chosen, result))
    sequences = [([s.token for s in state.slots()], [s.anchor for s in state.slots()]) for state in states]
    return merges, patches, sequences


@st.composite
def grid_sets(draw, max_side: int = 6, max_grids: int = 4):
    codebook_size = draw(st.integers(1, 4))
    grids = []
    for _ in range(draw(st.integers(1, max_grids))):
        height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
        cells = draw(st.lists(st.integers(0, codebook_size - 1), min_size=height * width,
                              max_size=height * width))
        grids.append(np.array(cells, dtype=np.int64).reshape(height, width))
    return grids, codebook_size


def drive_engine(grids, codebook_size, *, num_merges, alpha=0.0, sigma=0.5, top_k=None, min_frequency=1,
                 check=None):
    """The engine step by step, exposing its incremental counts before each selection."""
    engine = VisualMergeEngine(grids, [base_patch(c) for c in range(codebook_size)],
                             capacity=codebook_size + num_merges, spatial=alpha > 0)
    merges = []
    for _ in range(num_merges):
        if check is not None:
            check(engine.pair_counts())
        chosen = engine.select(alpha=alpha, sigma=sigma, top_k=top_k, min_frequency=min_frequency)
        if chosen is None:
            break
        key = chosen[0]
        left, right, relation, dy, dx = engine.unpack(key)
        result = engine.add_token(union_patch(engine.patches[left], engine.patches[right], dy, dx))
        engine.apply(key, result)
        merges.append((left, right, relation, dy, dx, result))
    return merges, engine


@given(grid_sets(), st.integers(0, 25), st.sampled_from([0.0, 0.1, 0.7, 3.0]), st.sampled_from([None, 1, 3]),
       st.integers(1, 3))
def test_incremental_counts_and_merges_equal_a_full_recount(data, num_merges, alpha, top_k, min_frequency):
    grids, codebook_size = data
    reference_counts: list[dict] = []
    engine_counts: list[dict] = []
    options = dict(num_merges=num_merges, alpha=alpha, top_k=top_k, min_frequency=min_frequency)
    expected, patches, sequences = reference_train(grids, codebook_size, check=reference_counts.append,
                                                   **options)
    merges, engine = drive_engine(grids, codebook_size, check=engine_counts.append, **options)
    assert merges == expected
    assert engine_counts[:len(reference_counts)] == reference_counts
    assert engine.patches == patches
    assert engine.sequences() == sequences


@given(grid_sets(), st.integers(0, 20))
def test_alpha_zero_is_frequency_only(data, num_merges):
    grids, codebook_size = data
    result = learn_visual_merges(grids, codebook_size, num_merges=num_merges, alpha=0.0, min_frequency=1)
    expected, _, _ = reference_train(grids, codebook_size, num_merges=num_merges, alpha=0.0, min_frequency=1)
    assert [tuple(m) for m in result.merges] == expected
    # frequency-only means: each merge is the most frequent key, ties to the smaller key
    assert all(step.consistency == 0.0 for step in result.steps)


def test_spatial_consistency_can_change_the_choice():
    # (1, 2) is seen 4 times as right neighbours and 4 times as lower neighbours (S = exp(-1) for each key);
    # (3, 4) is seen 3 times, always to the right (S = 1). Frequency alone picks (1, 2); with alpha = 1,
    # P(1, 2) = 1 + exp(-1) = 1.37 < P(3, 4) = 3/4 + 1 = 1.75.
    grids = [np.array([[1, 2]])] * 4 + [np.array([[1], [2]])] * 4 + [np.array([[3, 4]])] * 3
    by_frequency = learn_visual_merges(grids, 5, num_merges=1, alpha=0.0, min_frequency=1)
    by_priority = learn_visual_merges(grids, 5, num_merges=1, alpha=1.0, min_frequency=1)
    assert by_frequency.merges[0][:3] == (1, 2, 0)
    assert by_priority.merges[0][:3] == (3, 4, 0)
    assert by_priority.steps[0].consistency == pytest.approx(1.0)
    expected, _, _ = reference_train(grids, 5, num_merges=1, alpha=1.0)
    assert [tuple(m) for m in by_priority.merges] == expected


def test_identical_codes_merge_in_both_directions():
    grid = np.zeros((4, 4), dtype=np.int64)
    result = learn_visual_merges([grid], 1, num_merges=4, alpha=0.1, min_frequency=1)
    assert [(m.left, m.right) for m in result.merges[:2]] == [(0, 0), (1, 1)]
    assert {m.relation for m in result.merges} == {0, 1}
    assert result.patches[-1] == tuple((y, x, 0) for y in range(4) for x in range(4))
    [(ids, positions)] = encode_grids([grid], result.patches, result.merges)
    assert ids == [len(result.patches) - 1] and positions == [(0, 0)]


def test_a_run_of_one_code_merges_left_to_right_like_text_bpe():
    result = learn_visual_merges([np.zeros((1, 5), dtype=np.int64)], 1, num_merges=1, min_frequency=1)
    [(ids, positions)] = encode_grids([np.zeros((1, 5), dtype=np.int64)], result.patches, result.merges)
    assert ids == [1, 1, 0] and positions == [(0, 0), (0, 2), (0, 4)]
    assert result.steps[0].frequency == 4  # overlapping occurrences are counted, as in text BPE


def test_composite_neighbours_can_sit_above_the_anchor_row():
    # The vertical pair (1 above 2) is learned first; the cell 0 left of its lower half then has it as right
    # neighbour at offset (-1, 1), and the merged token is anchored at the right part's anchor.
    grids = [np.array([[3, 1], [0, 2]])] * 3 + [np.array([[1], [2]])] * 2
    result = learn_visual_merges(grids, 4, num_merges=2, alpha=0.0)
    assert [tuple(m) for m in result.merges] == [(1, 2, 1, 1, 0, 4), (0, 4, 0, -1, 1, 5)]
    assert result.patches[5] == ((0, 0, 1), (1, -1, 0), (1, 0, 2))
    expected, _, sequences = reference_train(grids, 4, num_merges=2, min_frequency=2)
    assert [tuple(m) for m in result.merges] == expected
    assert encode_grids(grids, result.patches, result.merges) == sequences
    assert sequences[0] == ([3, 5], [(0, 0), (0, 1)])


@settings(max_examples=50)
@given(grid_sets(max_side=7), st.integers(0, 30))
def test_tokens_per_grid_never_grow_with_more_merges(data, num_merges):
    grids, codebook_size = data
    result = learn_visual_merges(grids, codebook_size, num_merges=num_merges, min_frequency=1)
    lengths = [sum(len(ids) for ids, _ in encode_grids(grids, result.patches, result.merges[:m]))
               for m in range(len(result.merges) + 1)]
    assert all(a >= b for a, b in zip(lengths, lengths[1:]))


def test_min_frequency_and_exhaustion_stop_training():
    grid = np.array([[0, 1, 2, 3]])
    assert learn_visual_merges([grid], 4, num_merges=5, min_frequency=2).stop_reason == "min_frequency"
    exhausted = learn_visual_merges([grid], 4, num_merges=5, min_frequency=1)
    assert exhausted.stop_reason == "exhausted" and len(exhausted.merges) == 3
    assert learn_visual_merges([grid], 4, num_merges=None, max_tokens=5, min_frequency=1).stop_reason == "vocab_size"


def test_union_patch_rejects_overlap():
    with pytest.raises(ValueError, match="overlap"):
        union_patch(((0, 0, 1), (0, 1, 1)), base_patch(1), 0, 1)
