"""Byte-level language models that give ByteSpan its per-byte information signals.

A byte LM is anything with a ``name`` and a ``score(texts)`` method that returns, for each byte string, the
per-byte **surprisal** ``-ln p(b_i | b_<i)`` and **entropy** ``H(p(. | b_<i))`` in nats (the uncertainty
before seeing byte i). ByteSpan (`lexkit.vocab.bytespan`) only reads these two arrays, so any model fits:

- `NgramByteLM` (``lexkit.vocab.byte_lm.ngram``): a Witten-Bell smoothed byte n-gram model trained on the
  corpus itself; numpy only, fast, the default;
- `TransformerByteLM` (``lexkit.vocab.byte_lm.transformer``): a small causal byte transformer trained by
  lexkit with torch (``device=``), saved to and loaded from a folder;
- `HFByteLM` (``lexkit.vocab.byte_lm.hf``): any HF causal LM whose vocabulary holds the 256 bytes.

`checked_scores` wraps every call so that a model returning the wrong number of arrays, wrong shapes, NaN or
negative values fails with a `ByteLMError` naming the model, the text and the position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from lexkit.errors import ByteLMError

__all__ = ["ByteLM", "ByteSignals", "checked_scores", "load_byte_lm"]

#: Entropy of a distribution over 256 bytes is at most ln 256 nats; a little slack for float rounding.
MAX_ENTROPY = math.log(256) + 1e-3


@dataclass(frozen=True)
class ByteSignals:
    """Per-byte signals of one byte string, both float arrays of shape ``(L,)`` in nats.

    Attributes:
        surprisal: ``-ln p(b_i | b_<i)``.
        entropy: the entropy of the model's next-byte distribution before byte i.
    """

    surprisal: np.ndarray
    entropy: np.ndarray


@runtime_checkable
class ByteLM(Protocol):
    """The protocol ByteSpan needs: per-byte surprisal and entropy for a batch of byte strings."""

    name: str

    def score(self, texts: Sequence[bytes]) -> Sequence[ByteSignals]:
        """One `ByteSignals` per text, each array as long as the text (in bytes)."""
        ...


def checked_scores(lm: ByteLM, texts: Sequence[bytes]) -> list[ByteSignals]:
    """Call ``lm.score(texts)`` and check what comes back.

    Raises:
        ByteLMError: the model returned another number of results than texts, an array whose shape is not
            ``(len(text),)``, a NaN or infinite value, a negative value, or an entropy above ln 256.
    """
    name = getattr(lm, "name", type(lm).__name__)
    results = list(lm.score(texts))
    if len(results) != len(texts):
        raise ByteLMError(
            f"byte LM {name!r} returned {len(results)} results for {len(texts)} texts; score() must return one "
            "ByteSignals per input byte string, in order"
        )
    checked = []
    for number, (text, result) in enumerate(zip(texts, results)):
        arrays = {}
        for field in ("surprisal", "entropy"):
            values = np.asarray(getattr(result, field, None), dtype=np.float64)
            if values.shape != (len(text),):
                raise ByteLMError(
                    f"byte LM {name!r} returned {field} of shape {values.shape} for text {number} of "
                    f"{len(text)} bytes; expected ({len(text)},): one value per byte, not per token or per batch"
                )
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ByteLMError(
                    f"byte LM {name!r} returned {values[bad[0]]} as {field} at byte {bad[0]} of text {number}; "
                    "signals must be finite (check the model for overflow, e.g. run it in float32, not float16)"
                )
            low = np.flatnonzero(values < -1e-6)
            high = np.flatnonzero(values > MAX_ENTROPY) if field == "entropy" else np.empty(0, dtype=np.int64)
            if low.size or high.size:
                where = int(low[0] if low.size else high[0])
                raise ByteLMError(
                    f"byte LM {name!r} returned {field} {values[where]:.4g} at byte {where} of text {number}; "
                    f"{field} is in nats between 0 and {'ln 256' if field == 'entropy' else 'infinity'}: return "
                    "-log p (natural log) of the observed byte and the entropy of the next-byte distribution"
                )
            arrays[field] = np.maximum(values, 0.0)
        checked.append(ByteSignals(**arrays))
    return checked


def load_byte_lm(path: str | PathLike[str], *, device: str = "cpu") -> ByteLM:
    """Load a saved byte LM: a lexkit `TransformerByteLM` folder, a saved `NgramByteLM`, or an HF causal LM.

    Raises:
        ByteLMError: nothing loadable at ``path``.
    """
    folder = Path(path)
    from lexkit.vocab.byte_lm.ngram import NGRAM_FILE, NgramByteLM
    from lexkit.vocab.byte_lm.transformer import CONFIG_FILE, TransformerByteLM

    if folder.is_file() and folder.name == NGRAM_FILE:
        folder = folder.parent
    if (folder / CONFIG_FILE).is_file():
        return TransformerByteLM.load(folder, device=device)
    if (folder / NGRAM_FILE).is_file():
        return NgramByteLM.load(folder)
    if (folder / "config.json").is_file():
        from lexkit.vocab.byte_lm.hf import HFByteLM

        return HFByteLM.from_pretrained(folder, device=device)
    raise ByteLMError(
        f"{folder}: no byte LM found (looked for {CONFIG_FILE}, {NGRAM_FILE} or an HF config.json); pass a folder "
        "written by TransformerByteLM.save / NgramByteLM.save, an HF causal LM folder, or 'ngram'"
    )
