"""Visual BPE: byte-pair encoding on 2-D grids of quantized image codes.

Follows Being-VL (Zhang et al., "From Pixels to Tokens: Byte-Pair Encoding on Quantized Visual Modalities",
arXiv 2410.02155, ICLR 2025) and Being-VL-0.5 (Zhang et al., "Unified Multimodal Understanding via Byte-Pair
Visual Encoding", arXiv 2506.23639, ICCV 2025): pairs are right and lower neighbours, and the next merge
maximises ``P = F / F_max + alpha * S`` (frequency plus spatial consistency). Unlike the released Being-VL
code, merges stay 2-D throughout, same-code and ``a > b`` pairs are allowed, counts are updated incrementally
(no dense ``V x V`` matrix), and every merge keeps its relation and anchor offset, so each token is a fixed
patch and every encoding decodes back to its grid exactly.

The result is an ordinary `Vocabulary` over the ``grid_codebook`` alphabet: token ids ``0..K-1`` are the codes,
merges are ``(left, right, "right" | "below")`` with the offsets in ``metadata["visual"]``, and it saves to
``lexkit.json`` like any other vocabulary. `lexkit.encoders.visual.VisualEncoder` encodes and decodes with it.

Not implemented: the ``beingvl_compat`` mode that reproduces the released code's one-2-D-merge-then-1-D rule.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lexkit._version import __version__
from lexkit._visual_engine import (
    RELATIONS,
    MergeStep,
    Patch,
    VisualMerge,
    VisualMergeEngine,
    base_patch,
    union_patch,
)
from lexkit.errors import VocabularyError
from lexkit.grids import VISUAL_FORMAT_VERSION, check_grids, grid_alphabet, patch_content, visual_model
from lexkit.vocabulary import Token, Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["MAX_CODEBOOK_SIZE", "VisualBPEConfig", "VisualBPETrainer", "VisualMergeResult", "learn_visual_merges"]

MAX_CODEBOOK_SIZE = 1 << 20  # with up to 2**20 merges on top, pair keys still fit the engine's 62 bits


@dataclass(frozen=True)
class VisualMergeResult:
    """The outcome of `learn_visual_merges`.

    Attributes:
        merges: the merge rules in rank order; a ``result`` may repeat (the same patch reached another way).
        patches: the patch of every token id: the base codes, then one per new token in creation order.
        steps: count, consistency and priority of each merge when it was selected.
        stop_reason: ``"max_merges"``, ``"vocab_size"`` (``max_tokens`` reached), ``"min_frequency"`` or
            ``"exhausted"`` (no neighbouring pair left).
    """

    merges: list[VisualMerge]
    patches: list[Patch]
    steps: list[MergeStep]
    stop_reason: str


def learn_visual_merges(
    grids: Sequence[np.ndarray],
    codebook_size: int,
    *,
    num_merges: int | None,
    max_tokens: int | None = None,
    alpha: float = 0.1,
    sigma: float = 0.5,
    top_k: int | None = None,
    min_frequency: int = 2,
    on_merge: Callable[[VisualMerge, MergeStep], None] | None = None,
) -> VisualMergeResult:
    """Learn up to ``num_merges`` 2-D merges over grids of codes in ``range(codebook_size)``.

    Args:
        grids: validated 2-D integer arrays (sizes may differ).
        codebook_size: the number of base codes ``K``; token ids ``0..K-1`` are the codes.
        num_merges: stop after this many merges (None: no limit, then ``max_tokens`` is required).
        max_tokens: stop when this many token ids exist (codes included); None for no limit.
        alpha: weight of spatial consistency in the priority; 0 gives frequency-only BPE.
        sigma: Gaussian width (cells) of the spatial consistency.
        top_k: shortlist the ``top_k`` most frequent keys before taking the best priority (None: all).
        min_frequency: stop when the most frequent key occurs fewer times; rarer keys are never merged.
        on_merge: called after each merge (progress bars, logging).

    Returns:
        The merges, every token's patch, the per-merge statistics and why training stopped.

    >>> grid = np.array([[1, 1, 0], [1, 1, 0]])
    >>> result = learn_visual_merges([grid, grid], 2, num_merges=2, alpha=0.0)
    >>> [(m.left, m.right, RELATIONS[m.relation], m.result) for m in result.merges]
    [(1, 0, 'right', 2), (1, 2, 'right', 3)]
    >>> result.patches[3]
    ((0, 0, 1), (0, 1, 1), (0, 2, 0))
    """
    if num_merges is None and max_tokens is None:
        raise ValueError("give num_merges or max_tokens (or both); training needs a stopping size")
    capacity = max_tokens if max_tokens is not None else codebook_size + (num_merges or 0)
    engine = VisualMergeEngine(grids, [base_patch(code) for code in range(codebook_size)],
                             capacity=max(capacity, codebook_size), spatial=alpha > 0)
    merges: list[VisualMerge] = []
    steps: list[MergeStep] = []
    while True:
        if num_merges is not None and len(merges) >= num_merges:
            stop_reason = "max_merges"
            break
        if max_tokens is not None and len(engine.patches) >= max_tokens:
            stop_reason = "vocab_size"
            break
        chosen = engine.select(alpha=alpha, sigma=sigma, top_k=top_k, min_frequency=min_frequency)
        if chosen is None:
            stop_reason = "min_frequency" if engine.counts else "exhausted"
            break
        key, step = chosen
        left, right, relation, dy, dx = engine.unpack(key)
        result = engine.add_token(union_patch(engine.patches[left], engine.patches[right], dy, dx))
        engine.apply(key, result)
        merge = VisualMerge(left, right, relation, dy, dx, result)
        merges.append(merge)
        steps.append(step)
        if on_merge is not None:
            on_merge(merge, step)
    return VisualMergeResult(merges=merges, patches=engine.patches, steps=steps, stop_reason=stop_reason)


@dataclass(frozen=True)
class VisualBPEConfig:
    """Settings of a visual-BPE run (the paper's values where published, lexkit's own elsewhere).

    Args:
        vocab_size: stop when the vocabulary holds this many tokens (codes included); overrides ``num_merges``.
        num_merges: stop after this many merges (Being-VL's default is 8,192).
        alpha: weight of spatial consistency ``S`` in the priority ``F / F_max + alpha * S``; 0 is
            frequency-only BPE.
        sigma: width, in cells, of the Gaussian in ``S``.
        top_k: take the best priority among the ``top_k`` most frequent pairs only (None: all pairs).
        min_frequency: stop when the most frequent pair occurs fewer times; rarer pairs are never merged.
    """

    vocab_size: int | None = None
    num_merges: int = 8192
    alpha: float = 0.1
    sigma: float = 0.5
    top_k: int | None = None
    min_frequency: int = 2

    def __post_init__(self) -> None:
        checks = [
            (self.vocab_size is None or self.vocab_size >= 1, "vocab_size", self.vocab_size, "a positive size"),
            (self.num_merges >= 0, "num_merges", self.num_merges, "0 or more"),
            (self.alpha >= 0, "alpha", self.alpha, "0 or more (0 = frequency only)"),
            (self.sigma > 0, "sigma", self.sigma, "a positive width in cells"),
            (self.top_k is None or self.top_k >= 1, "top_k", self.top_k, "None or 1 or more"),
            (self.min_frequency >= 1, "min_frequency", self.min_frequency, "1 or more"),
        ]
        for ok, name, value, wanted in checks:
            if not ok:
                raise VocabularyError(f"VisualBPEConfig {name}={value!r} is invalid; pass {wanted}")


class VisualBPETrainer:
    """Trains a visual-BPE `Vocabulary` on grids of codes.

    >>> import numpy as np
    >>> grid = np.array([[3, 3], [3, 3]])
    >>> vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=2, alpha=0.0)).train([grid] * 4)
    >>> len(vocabulary), vocabulary.merges
    (6, ((3, 3, 'right'), (4, 4, 'below')))
    """

    name = "visual-bpe"

    def __init__(self, config: VisualBPEConfig) -> None:
        self.config = config

    def train(self, grids: Iterable[Any] | np.ndarray, codebook_size: int | None = None, *,
              progress: bool = False) -> Vocabulary:
        """Learn merges on ``grids`` and return the vocabulary.

        Args:
            grids: an ``(N, H, W)`` integer array or an iterable of 2-D grids (sizes may differ).
            codebook_size: the number of codes ``K``; default: the largest code + 1.
            progress: show a progress bar on stderr.

        Returns:
            A ``grid_codebook`` vocabulary: the ``K`` codes, then one token per new patch.

        Raises:
            CorpusError: the grids are empty, ragged, not integer, or hold a code outside ``[0, K)``.
            VocabularyError: ``vocab_size`` is below the codebook size.
        """
        config = self.config
        checked = check_grids(grids, codebook_size)
        size = codebook_size if codebook_size is not None else max(int(g.max()) for g in checked) + 1
        if size > MAX_CODEBOOK_SIZE:
            raise VocabularyError(
                f"codebook size {size} is above the {MAX_CODEBOOK_SIZE} codes visual BPE supports (packed pair "
                "keys); codes are codebook ids: re-quantize, or renumber the codes densely from 0"
            )
        if config.vocab_size is not None:
            if config.vocab_size < size:
                raise VocabularyError(
                    f"vocab size {config.vocab_size} is below the codebook size {size}: the codes are tokens "
                    f"0..{size - 1}; pass --vocab-size {size} or more (codebook + merges)"
                )
            num_merges, max_tokens = None, config.vocab_size
        else:
            num_merges, max_tokens = config.num_merges, None
        start = time.perf_counter()
        bar = _progress_bar(config.num_merges if config.vocab_size is None else config.vocab_size - size) \
            if progress else None
        result = learn_visual_merges(
            checked, size, num_merges=num_merges, max_tokens=max_tokens, alpha=config.alpha,
            sigma=config.sigma, top_k=config.top_k, min_frequency=config.min_frequency,
            on_merge=(lambda merge, step: bar.update(1)) if bar is not None else None,
        )
        if bar is not None:
            bar.close()
        logger.info("visual-bpe: %d merges on %d grids in %.1fs (stopped: %s)", len(result.merges),
                    len(checked), time.perf_counter() - start, result.stop_reason)
        max_side = max(max(g.shape) for g in checked)
        vocabulary = self._vocabulary(result.patches, result.merges, result.steps, size, max_side,
                                      metadata=self._metadata(checked, size, result.stop_reason))
        visual_model(vocabulary)  # the trainer's own check: every merge result is the union patch
        return vocabulary

    def _vocabulary(self, patches: list[Any], merges: list[VisualMerge], steps: list[MergeStep], size: int,
                    max_side: int, *, metadata: dict[str, Any]) -> Vocabulary:
        alphabet = grid_alphabet(size, max_side)
        tokens = tuple(Token(token_id, patch_content(patch, alphabet.width))
                       for token_id, patch in enumerate(patches))
        metadata["visual"] = {
            "version": VISUAL_FORMAT_VERSION,
            "offsets": [[m.dy, m.dx] for m in merges],
            "frequency": [s.frequency for s in steps],
            "consistency": [round(s.consistency, 6) for s in steps],
        }
        return Vocabulary(
            tokens=tokens, merges=tuple((m.left, m.right, RELATIONS[m.relation]) for m in merges),
            alphabet=alphabet, metadata=metadata,
        )

    def _metadata(self, grids: list[np.ndarray], size: int, stop_reason: str) -> dict[str, Any]:
        digest = hashlib.sha256()
        for grid in grids:
            digest.update(np.asarray(grid.shape, dtype=np.int64).tobytes())
            digest.update(np.ascontiguousarray(grid, dtype=np.int64).tobytes())
        return {
            "trainer": self.name, "encoder": "visual", "lexkit_version": __version__,
            "config": asdict(self.config), "codebook_size": size, "stop_reason": stop_reason,
            "grids": {"count": len(grids), "cells": int(sum(g.size for g in grids)),
                      "sha256": digest.hexdigest()},
        }


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="visual-bpe merges", unit="merge", leave=False)
