"""The ``visual`` encoder: replays a visual-BPE vocabulary's 2-D merges on new code grids (the training rule)
and returns token ids with their anchor positions; `VisualEncoder.decode_grid` puts the patches back, bit-exactly.

Grid checking and the patch content of the ``grid_codebook`` alphabet live in `lexkit.grids`; the merge engine
shared with the trainer (`lexkit.vocab.visual`) in `lexkit._visual_engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lexkit._visual_engine import encode_grids
from lexkit.encoders.base import Encoder
from lexkit.errors import EncodingError, UnsupportedAlphabetError
from lexkit.grids import check_grids, visual_model
from lexkit.vocabulary import Vocabulary

__all__ = ["GridEncoding", "VisualEncoder"]

_ENCODE_BATCH = 256  # grids per replay engine (one engine per batch amortises the merge-list walk)


@dataclass(frozen=True)
class GridEncoding:
    """One grid as visual tokens.

    Attributes:
        ids: token ids in raster order of their anchors.
        positions: the anchor ``(row, col)`` of each token (the first cell of its patch in raster order).
        shape: the grid's ``(height, width)``, which `VisualEncoder.decode_grid` needs.
    """

    ids: list[int]
    positions: list[tuple[int, int]]
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.ids)


class VisualEncoder(Encoder):
    """Encodes code grids with a visual-BPE vocabulary: replays its 2-D merges in training order.

    >>> import numpy as np
    >>> from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer
    >>> grid = np.array([[1, 1, 0], [1, 1, 0]])
    >>> vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=2, alpha=0.0)).train([grid, grid])
    >>> encoder = VisualEncoder(vocabulary)
    >>> encoding = encoder.encode_grid(grid)
    >>> encoding.ids, encoding.positions, encoder.patches[3]
    ([3, 3], [(0, 0), (1, 0)], ((0, 0, 1), (0, 1, 1), (0, 2, 0)))
    >>> bool((encoder.decode_grid(encoding.ids, 2, 3) == grid).all())
    True
    """

    name = "visual"
    models = frozenset({"bpe"})
    alphabets = frozenset({"grid_codebook"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        self.patches, self.merges = visual_model(vocabulary)

    @property
    def codebook_size(self) -> int:
        """The number of base codes ``K``."""
        return self.vocabulary.alphabet.size

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Refuses: a visual vocabulary encodes grids of codes, not text.

        Raises:
            UnsupportedAlphabetError: always.
        """
        raise UnsupportedAlphabetError(
            "a visual (grid_codebook) vocabulary encodes grids of codes, not text; call "
            "VisualEncoder.encode_grid(grid) with an (H, W) integer array"
        )

    def encode_grid(self, grid: Any) -> GridEncoding:
        """Token ids and anchor positions of one ``(H, W)`` grid of codes.

        Raises:
            EncodingError: the grid is ragged, not integer, not 2-D, or has a code outside the codebook.
        """
        return self.encode_grids([grid])[0]

    def encode_grids(self, grids: Any) -> list[GridEncoding]:
        """`encode_grid` over an ``(N, H, W)`` array or a list of grids (batched for speed)."""
        checked = check_grids(grids, self.codebook_size, error=EncodingError)
        out: list[GridEncoding] = []
        for start in range(0, len(checked), _ENCODE_BATCH):
            batch = checked[start:start + _ENCODE_BATCH]
            for grid, (ids, positions) in zip(batch, encode_grids(batch, self.patches, self.merges)):
                out.append(GridEncoding(ids, positions, (int(grid.shape[0]), int(grid.shape[1]))))
        return out

    def decode_grid(self, ids: Sequence[int], height: int, width: int) -> np.ndarray:
        """The ``(height, width)`` grid that ``ids`` (in raster order of their anchors) stand for.

        Each token's anchor goes on the first cell not yet filled, in raster order; this is exact because
        every token with an earlier anchor has already been placed.

        Raises:
            EncodingError: an id outside the vocabulary, or a sequence that does not tile the grid exactly
                (a patch overlaps, leaves the grid, or cells stay empty).
        """
        grid = np.full((height, width), -1, dtype=np.int64)
        flat = grid.reshape(-1)
        patches = self.patches
        cursor = 0
        total = height * width
        for position, token_id in enumerate(ids):
            if not 0 <= token_id < len(patches):
                raise EncodingError(
                    f"token id {token_id} at position {position} is outside the vocabulary (0..{len(patches) - 1}); "
                    "decode ids produced by this vocabulary's encoder"
                )
            while cursor < total and flat[cursor] >= 0:
                cursor += 1
            if cursor == total:
                raise EncodingError(
                    f"token {position} ({token_id}) has no room: the {height} x {width} grid is already full; "
                    "pass the grid's own height and width (GridEncoding.shape)"
                )
            row, col = divmod(cursor, width)
            for dy, dx, code in patches[token_id]:
                y, x = row + dy, col + dx
                if not (0 <= y < height and 0 <= x < width) or grid[y, x] >= 0:
                    raise EncodingError(
                        f"token {position} ({token_id}) anchored at ({row}, {col}) "
                        f"{'leaves the grid' if not (0 <= y < height and 0 <= x < width) else 'overlaps a placed token'} "
                        f"at ({y}, {x}); the ids are not a complete raster-order encoding of a {height} x {width} grid"
                    )
                grid[y, x] = code
        if (flat < 0).any():
            missing = int(np.argmax(flat < 0))
            raise EncodingError(
                f"the ids cover {int((flat >= 0).sum())} of {total} cells (first empty cell at "
                f"{divmod(missing, width)}); pass the complete id sequence and the grid's own shape"
            )
        return grid
