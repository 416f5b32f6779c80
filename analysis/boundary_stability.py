"""Token-boundary stability under OCR-style errors (the purpose of KL3M's character-level tokenizers).

A tokenizer meant for error correction should cut a misspelled text where it cuts the correct one, so that a model
can map one to the other token by token. `corrupt_ocr` injects seeded character substitutions (OCR confusions such
as ``l``/``1``, ``O``/``0``, ``e``/``c``) and deletions into ASCII letters and digits and records how byte offsets
move; `boundary_stability` encodes clean and corrupted texts and compares their token boundaries after mapping
the clean offsets through the deletions:

- ``kept``: share of the clean text's boundaries that the corrupted text's tokenization also has;
- ``precision``: share of the corrupted text's boundaries that are images of clean ones;
- ``f1``: their harmonic mean (a long-token tokenizer keeps most word boundaries but adds new cuts inside each
  damaged word, which shows up in precision).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lexkit.tokenizer import Tokenizer

__all__ = ["OCR_CONFUSIONS", "Corruption", "corrupt_ocr", "BoundaryStability", "boundary_stability"]

#: Single-character OCR confusions (a glyph read as a similar-looking one).
OCR_CONFUSIONS: dict[str, str] = {
    "l": "1", "1": "l", "I": "l", "O": "0", "0": "O", "e": "c", "c": "e", "a": "o", "o": "a", "i": "l",
    "S": "5", "5": "S", "B": "8", "g": "q", "u": "v", "n": "m", "m": "n", "h": "b", "t": "f", "f": "t", "r": "n",
}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Corruption:
    """A corrupted text and how the clean text's byte offsets map into it.

    Attributes:
        text: the corrupted text.
        deleted_before: for every clean byte offset ``0..len(clean bytes)``, the number of bytes deleted before
            it; clean offset ``o`` maps to corrupted offset ``o - deleted_before[o]``.
        substitutions: characters replaced.
        deletions: characters deleted.
    """

    text: str
    deleted_before: tuple[int, ...]
    substitutions: int
    deletions: int


def corrupt_ocr(text: str, rate: float, *, seed: int | str = 0, deletion_share: float = 0.5) -> Corruption:
    """Inject OCR-style errors into the ASCII letters and digits of ``text``.

    Each ASCII alphanumeric character is hit with probability ``rate``; a hit deletes it with probability
    ``deletion_share`` and otherwise substitutes it (`OCR_CONFUSIONS`, or a random lowercase letter).

    Args:
        text: the clean text.
        rate: error probability per ASCII letter or digit, in [0, 1].
        seed: random seed (the result is a function of ``text``, ``rate``, ``seed`` and ``deletion_share``).
        deletion_share: share of errors that are deletions.

    Raises:
        ValueError: ``rate`` or ``deletion_share`` outside [0, 1].

    >>> corrupt_ocr("hello world", 0.0).text
    'hello world'
    """
    if not 0.0 <= rate <= 1.0 or not 0.0 <= deletion_share <= 1.0:
        raise ValueError(f"rate and deletion_share must lie in [0, 1]; got {rate} and {deletion_share}")
    rng = random.Random(f"{seed}:{rate}:{deletion_share}")
    out: list[str] = []
    deleted_before: list[int] = []
    deleted = substitutions = deletions = 0
    for char in text:
        width = len(char.encode("utf-8"))
        deleted_before.extend([deleted] * width)
        if char.isascii() and char.isalnum() and rng.random() < rate:
            if rng.random() < deletion_share:
                deleted += 1  # ASCII: one byte
                deletions += 1
                continue
            out.append(OCR_CONFUSIONS.get(char) or rng.choice(_LETTERS))
            substitutions += 1
            continue
        out.append(char)
    deleted_before.append(deleted)
    return Corruption("".join(out), tuple(deleted_before), substitutions, deletions)


@dataclass(frozen=True)
class BoundaryStability:
    """How well token boundaries survive corruption (see the module docstring)."""

    kept: float
    precision: float
    f1: float
    clean_boundaries: int
    corrupted_boundaries: int


def _cuts(tokenizer: Tokenizer, ids: Sequence[int]) -> set[int]:
    """Inner byte offsets between consecutive tokens."""
    cuts: set[int] = set()
    position = 0
    for token_id in ids[:-1]:
        position += len(tokenizer.token_to_bytes(token_id))
        cuts.add(position)
    return cuts


def boundary_stability(tokenizer: Tokenizer, clean: Sequence[str], corrupted: Sequence[Corruption]) -> BoundaryStability:
    """Compare the token boundaries of ``clean[i]`` and ``corrupted[i].text`` over a corpus (micro-averaged).

    Args:
        tokenizer: any byte-level lexkit tokenizer whose normalizer leaves the texts unchanged (normalize the
            clean text first, e.g. NFKC for the KL3M recipes, so offsets refer to the encoded bytes).
        clean: the clean texts.
        corrupted: `corrupt_ocr` of each clean text.

    Raises:
        ValueError: the lists differ in length, or the tokens of a text do not add up to its bytes.
    """
    if len(clean) != len(corrupted):
        raise ValueError(f"{len(clean)} clean texts but {len(corrupted)} corrupted ones; pass one per text")
    clean_ids = tokenizer.encode_batch(list(clean), disallowed_special=())
    noisy_ids = tokenizer.encode_batch([c.text for c in corrupted], disallowed_special=())
    kept = matched = clean_total = noisy_total = 0
    for text, corruption, a, b in zip(clean, corrupted, clean_ids, noisy_ids):
        size = sum(len(tokenizer.token_to_bytes(token_id)) for token_id in a)
        if size != len(text.encode("utf-8")):
            raise ValueError(
                f"the tokens of a text cover {size} bytes, the text has {len(text.encode('utf-8'))}: the "
                "tokenizer's normalizer changes it; normalize the texts before corrupting them"
            )
        clean_cuts, noisy_cuts = _cuts(tokenizer, a), _cuts(tokenizer, b)
        shift = corruption.deleted_before
        kept += sum(1 for cut in clean_cuts if cut - shift[cut] in noisy_cuts)
        matched += len({cut - shift[cut] for cut in clean_cuts} & noisy_cuts)
        clean_total += len(clean_cuts)
        noisy_total += len(noisy_cuts)
    recall = kept / clean_total if clean_total else 1.0
    precision = matched / noisy_total if noisy_total else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BoundaryStability(recall, precision, f1, clean_total, noisy_total)
