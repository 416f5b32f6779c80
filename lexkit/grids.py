"""Code grids: 2-D arrays of codebook ids, and the patch tokens of visual vocabularies.

A quantized image is an ``H x W`` grid of integer codes in ``[0, K)``. Visual BPE (`lexkit.vocab.visual`)
learns tokens that are 2-D *patches* of codes; this module holds the grid and patch side of such a vocabulary:

- input checking and loading (`check_grid`, `check_grids`, `load_codes`): integer arrays only, codes inside
  the codebook, rectangular grids; every problem is a one-line `CorpusError`/`EncodingError` that names the
  grid, the value and the fix;
- the token content of the ``grid_codebook`` alphabet (`patch_content`, `content_patch`): a patch's cells
  ``(dy, dx, code)`` sorted, each as three fixed-width big-endian units (``dx`` signed), so a-beside-b and
  a-above-b get different content (plain concatenation could not tell them apart);
- `visual_model`: every token's patch and the 2-D merge rules of a visual vocabulary, checked.

Not handled here: encoding (`lexkit.encoders.visual`) and training (`lexkit.vocab.visual`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from lexkit._visual_engine import RELATIONS, Patch, VisualMerge, base_patch, union_patch
from lexkit.errors import (
    CorpusError,
    FormatError,
    LexkitError,
    UnsupportedAlphabetError,
    VocabularyError,
)
from lexkit.vocabulary import Alphabet, Vocabulary

logger = logging.getLogger(__name__)

__all__ = [
    "check_grid",
    "check_grids",
    "content_patch",
    "grid_alphabet",
    "load_codes",
    "patch_content",
    "visual_model",
]

VISUAL_FORMAT_VERSION = 1  # version of the "visual" entry that visual vocabularies keep in their metadata


# ----------------------------------------------------------------------------------------------------------
# input checking
def check_grid(grid: Any, codebook_size: int | None = None, *, where: str = "grid",
               error: type[LexkitError] = CorpusError) -> np.ndarray:
    """One grid as a 2-D ``int64`` array, or a one-line error saying what is wrong and how to fix it.

    Args:
        grid: a 2-D array-like of integer codes.
        codebook_size: codes must lie in ``[0, codebook_size)``; None checks only that they are >= 0.
        where: how messages name the grid (``"codes.npy: grid 3"``).
        error: the error class raised (`CorpusError` for training data, `EncodingError` for encoding).

    Raises:
        LexkitError: (of class ``error``) ragged rows, a non-integer dtype, not 2-D, empty, or a code
            outside the codebook.

    >>> check_grid([[0, 1], [2, 3]], 4).dtype
    dtype('int64')
    """
    try:
        array = np.asarray(grid)
    except ValueError:
        array = np.asarray(grid, dtype=object)
    if array.dtype == object:
        raise error(
            f"{where} is ragged (its rows have different lengths, or it mixes arrays and numbers); a grid must "
            "be a rectangular H x W array of codes: pad or crop the rows, and pass grids of different sizes "
            "as a list of 2-D arrays"
        )
    if array.dtype.kind not in "iu":
        hint = ("round it with np.rint(grid).astype(np.int64) if the values are whole numbers, or quantize "
                "the image with an image tokenizer (a VQ codebook) first")
        raise error(f"{where} has dtype {array.dtype}, not integers; grids hold codebook ids: {hint}")
    if array.ndim != 2:
        raise error(
            f"{where} has shape {array.shape}, not (H, W); a grid is one 2-D array of codes: pass a batch as "
            "an (N, H, W) array or a list of 2-D arrays"
        )
    if array.size == 0:
        raise error(f"{where} is empty (shape {array.shape}); every grid needs at least one cell: drop it")
    low, high = int(array.min()), int(array.max())
    bad = low if low < 0 else high if codebook_size is not None and high >= codebook_size else None
    if bad is not None:
        row, col = (int(i) for i in np.argwhere(array == bad)[0])
        limit = "" if codebook_size is None else f", {codebook_size}"
        raise error(
            f"{where} has code {bad} at row {row}, column {col}, outside the codebook [0{limit}); codes are "
            "codebook ids: re-quantize the image, or give a codebook size larger than the largest code "
            "(codebook_size=... / --codebook-size)"
        )
    return array.astype(np.int64, copy=False)


def check_grids(grids: Any, codebook_size: int | None = None, *, source: str = "grids",
                error: type[LexkitError] = CorpusError) -> list[np.ndarray]:
    """A batch of grids as 2-D ``int64`` arrays (sizes may differ), checked with `check_grid`.

    Args:
        grids: an ``(N, H, W)`` integer array or an iterable of 2-D grids.
        codebook_size: codes must lie in ``[0, codebook_size)``; None checks only that they are >= 0.
        source: how messages name the input (a file name, ``"grids"``).
        error: the error class raised.

    Raises:
        LexkitError: (of class ``error``) no grids, or a bad grid (see `check_grid`).
    """
    if isinstance(grids, np.ndarray):
        if grids.dtype != object and grids.ndim != 3:
            raise error(
                f"{source} has shape {grids.shape}; a batch of grids is an (N, H, W) array: pass one grid "
                "as grid[None] or [grid]"
            )
        items: Iterable[Any] = list(grids)
    elif isinstance(grids, (str, bytes, PathLike)):
        raise error(f"{source} is a path, not grids; read the file with lexkit.grids.load_codes({str(grids)!r})")
    else:
        items = grids
    out = [check_grid(grid, codebook_size, where=f"{source}: grid {i}", error=error)
           for i, grid in enumerate(items)]
    if not out:
        raise error(f"{source} holds no grids; visual BPE needs at least one (N, H, W) array of codes")
    return out


def load_codes(path: str | PathLike[str], codebook_size: int | None = None) -> list[np.ndarray]:
    """Read code grids from an ``.npy`` file (``(N, H, W)``, or ``(H, W)`` for one grid) or a folder of them.

    Args:
        path: an ``.npy`` file, or a folder whose ``*.npy`` files are read in name order.
        codebook_size: codes must lie in ``[0, codebook_size)``; None checks only that they are >= 0.

    Raises:
        FormatError: the path is missing or a file is not a readable ``.npy`` array.
        CorpusError: a grid is ragged, not integer, or has a code outside the codebook (the file is named).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise FormatError(f"{path}: folder holds no .npy files; save each grid (or batch) with np.save")
    elif path.exists():
        files = [path]
    else:
        raise FormatError(f"{path}: no such file or folder; pass an .npy file of shape (N, H, W) or a folder")
    grids: list[np.ndarray] = []
    for file in files:
        try:
            array = np.load(file, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise CorpusError(
                    f"{file}: holds an object array (ragged grids?); grids must be rectangular integer "
                    "arrays: save one (N, H, W) array per size, or one .npy per grid in a folder"
                ) from None
            raise FormatError(f"{file}: not a readable .npy array ({exc}); save grids with np.save") from None
        except (OSError, EOFError) as exc:
            raise FormatError(f"{file}: not a readable .npy array ({exc}); save grids with np.save") from None
        if not isinstance(array, np.ndarray):
            raise FormatError(f"{file}: is an .npz archive, not an .npy array; save grids with np.save")
        batch = array[None] if array.ndim == 2 else array
        grids += check_grids(batch, codebook_size, source=str(file))
    return grids


# ----------------------------------------------------------------------------------------------------------
# token content of the grid_codebook alphabet
def grid_alphabet(codebook_size: int, max_side: int) -> Alphabet:
    """The ``grid_codebook`` alphabet for ``codebook_size`` codes on grids up to ``max_side`` cells a side.

    The unit width is the codebook's (1 byte up to 256 codes, 2 up to 65,536), widened when patch offsets of
    that many cells would not fit a signed unit.

    >>> grid_alphabet(1024, 32).width, grid_alphabet(17, 8).width, grid_alphabet(17, 300).width
    (2, 1, 2)
    """
    alphabet = Alphabet.grid_codebook(codebook_size)
    width = alphabet.width
    while max_side >= 1 << (8 * width - 1):
        width *= 2
    return Alphabet(kind="grid_codebook", size=codebook_size, width=width)


def patch_content(patch: Patch, width: int) -> bytes:
    """The content bytes of a patch: each cell ``(dy, dx, code)`` as three ``width``-byte big-endian units.

    Raises:
        VocabularyError: an offset or code does not fit the unit width.

    >>> patch_content(((0, 0, 5), (1, -1, 6)), 1).hex()
    '00000501ff06'
    """
    try:
        return b"".join(dy.to_bytes(width, "big") + dx.to_bytes(width, "big", signed=True)
                        + code.to_bytes(width, "big") for dy, dx, code in patch)
    except OverflowError:
        raise VocabularyError(
            f"patch {patch[:4]}... does not fit {width}-byte units; build the alphabet with "
            "lexkit.grids.grid_alphabet(codebook_size, max_side) for the largest grid side"
        ) from None


def content_patch(content: bytes, width: int) -> Patch:
    """The patch stored in a token's content (the inverse of `patch_content`).

    Raises:
        VocabularyError: the content is not whole cells.

    >>> content_patch(bytes.fromhex('00000501ff06'), 1)
    ((0, 0, 5), (1, -1, 6))
    """
    if not content or len(content) % (3 * width):
        raise VocabularyError(
            f"token content {content[:12].hex()}... is not a whole number of {3 * width}-byte cells; "
            "the vocabulary is not a visual one or is corrupt: retrain it with lexkit.vocab.visual"
        )
    units = [int.from_bytes(content[i:i + width], "big", signed=(i // width) % 3 == 1)
             for i in range(0, len(content), width)]
    return tuple((units[i], units[i + 1], units[i + 2]) for i in range(0, len(units), 3))


def visual_model(vocabulary: Vocabulary) -> tuple[list[Patch], list[VisualMerge]]:
    """Every token's patch and the merge rules of a visual vocabulary, checked against each other.

    Merges are stored as ``(left, right, relation)`` with the anchor offsets in
    ``metadata["visual"]["offsets"]``; the result of each merge is the token whose patch is the union.

    Raises:
        UnsupportedAlphabetError: the vocabulary's alphabet is not ``grid_codebook``.
        VocabularyError: the base tokens are not the codes ``0..K-1`` in order, offsets are missing, or a merge
            result is not a token (each message names the merge or token).
    """
    alphabet = vocabulary.alphabet
    if alphabet.kind != "grid_codebook":
        raise UnsupportedAlphabetError(
            f"the visual encoder needs a grid_codebook vocabulary, not a {alphabet.kind} one; train one with "
            "lexkit.vocab.visual.VisualBPETrainer (lexkit train visual-bpe)"
        )
    width, size = alphabet.width, alphabet.size
    patches = [content_patch(token.content, width) for token in vocabulary.tokens]
    for token_id, patch in enumerate(patches):
        cells = [(dy, dx) for dy, dx, _ in patch]
        if cells[0] != (0, 0) or cells != sorted(set(cells)) or any(not 0 <= c < size for _, _, c in patch):
            raise VocabularyError(
                f"token {token_id} holds {patch[:4]}..., not a patch (cells sorted from (0, 0), each once, codes "
                f"below {size}); the vocabulary is corrupt: retrain it with lexkit.vocab.visual"
            )
    if len(patches) < size or any(patches[code] != base_patch(code) for code in range(size)):
        raise VocabularyError(
            f"a visual vocabulary starts with its {size} codes as 1 x 1 tokens 0..{size - 1}; this one does "
            "not: retrain it with lexkit.vocab.visual"
        )
    ids = {patch: token_id for token_id, patch in enumerate(patches)}
    visual = vocabulary.metadata.get("visual") or {}
    offsets = visual.get("offsets")
    if not isinstance(offsets, list) or len(offsets) != len(vocabulary.merges):
        raise VocabularyError(
            f"visual vocabulary has {len(vocabulary.merges)} merges but "
            f"{'no' if not isinstance(offsets, list) else len(offsets)} offsets in metadata['visual']['offsets']; "
            "each 2-D merge needs its anchor offset: re-save the vocabulary from VisualBPETrainer"
        )
    merges: list[VisualMerge] = []
    for rank, (merge, offset) in enumerate(zip(vocabulary.merges, offsets)):
        relation = merge[2] if len(merge) == 3 else "right"
        dy, dx = int(offset[0]), int(offset[1])
        try:
            result = ids.get(union_patch(patches[merge[0]], patches[merge[1]], dy, dx))
        except ValueError:
            result = None
        if result is None:
            raise VocabularyError(
                f"merge {rank} ({merge[0]}, {merge[1]}, {relation}) at offset ({dy}, {dx}) produces a patch that "
                "is not a token of the vocabulary; add the result token before the merge (or retrain)"
            )
        merges.append(VisualMerge(merge[0], merge[1], RELATIONS.index(relation), dy, dx, result))
    return patches, merges
