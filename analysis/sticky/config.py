"""The detector's settings (`StickyConfig`, the paper's defaults) and what it needs from a model (`Embedder`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from lexkit.errors import LexkitError

__all__ = ["METRICS", "MODES", "SCORE_CONSTANTS", "DEFAULT_SPECIAL_ROLES", "Embedder", "StickyConfig"]

METRICS = ("cos", "euc", "man")
MODES = ("prefix", "suffix", "random")
# (alpha, beta, gamma) of the sticky score formula per distance (step 5 of ``lexkit.analysis.sticky``).
SCORE_CONSTANTS = {"cos": (0.1, 0.05, 0.01), "euc": (0.1, 0.05, 0.01), "man": (1.0, 0.5, 0.1)}
DEFAULT_SPECIAL_ROLES = ("bos", "eos", "pad", "unk", "sep", "mask", "additional")


class Embedder(Protocol):
    """What the detector needs from a model: texts in, one vector per text out."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float array ``(N, D)``, normalized as the model's pipeline does."""
        ...


@dataclass(frozen=True)
class StickyConfig:
    """Settings of the detector; the defaults are the paper's (all published runs used them).

    Attributes:
        sentences: sentences sampled from the pool in step 1 (1,000 in the paper).
        scoring_pairs: pairs for the sticky score (step 3, ``num = 5``).
        insertions: insertions per mode, k = 1..insertions (8).
        verification_pairs: pairs for verification (250).
        shortlist_percentile: candidates score at least this percentile of all scores (98).
        iqr_factor: the final cut is Q3 + iqr_factor · IQR of the candidates' verification values (0.7).
        pair_range: pairs come from [min, min + pair_range · (μ - min)] (0.8).
        mode_weights: verification weights of prefix, suffix, random (4/11, 4/11, 3/11).
        score_weights: score weights of prefix, suffix, random (0.35, 0.35, 0.30).
        insertion_separator: text between repeats in prefix/suffix mode; ``""`` is the authors' quirk.
        special_roles: roles whose tokens count as OK_SPECIAL; the authors' list leaves out ``cls``.
        allow_repeated_pairs: nearest-target pair selection may pick a pair twice (the authors' behaviour).
        mu_source: ``"raw_vocab"`` embeds the raw vocabulary strings (the paper); ``"decoded"`` embeds the
            decoded strings of the scored tokens.
        seed: seeds the sentence sample and the random insertions.
        seed_scope: ``"process"`` draws all insertion positions from one generator in plain-loop order (the
            authors'); ``"per_token"`` gives each token its own generator, so results do not depend on which
            other tokens are scored.
        chunk_tokens: tokens scored per embedding call in step 5 (verification uses an eighth, at least 1).
        max_tokens: score only the first N scorable tokens in id order (quick runs); None scores all.
        sample: score N scorable tokens drawn at random with ``seed`` (quick, representative runs); None
            scores all. Applied before ``max_tokens``.
        mu_sample: compute μ over N raw vocabulary strings drawn at random with ``seed`` instead of all of
            them (quick runs: with ``sample`` it makes the whole pipeline, μ to final list, a few minutes on
            a CPU); None embeds the whole base vocabulary (the paper).
    """

    sentences: int = 1000
    scoring_pairs: int = 5
    insertions: int = 8
    verification_pairs: int = 250
    shortlist_percentile: float = 98.0
    iqr_factor: float = 0.7
    pair_range: float = 0.8
    mode_weights: tuple[float, float, float] = (4 / 11, 4 / 11, 3 / 11)
    score_weights: tuple[float, float, float] = (0.35, 0.35, 0.30)
    insertion_separator: str = ""
    special_roles: tuple[str, ...] = DEFAULT_SPECIAL_ROLES
    allow_repeated_pairs: bool = True
    mu_source: Literal["raw_vocab", "decoded"] = "raw_vocab"
    seed: int = 42
    seed_scope: Literal["process", "per_token"] = "process"
    chunk_tokens: int = 64
    max_tokens: int | None = None
    sample: int | None = None
    mu_sample: int | None = None

    def __post_init__(self) -> None:
        for name in ("sentences", "scoring_pairs", "insertions", "verification_pairs", "chunk_tokens"):
            if getattr(self, name) < 1:
                raise LexkitError(f"StickyConfig.{name}={getattr(self, name)} must be at least 1; "
                                  f"pass a positive {name}")
        if self.sentences < 3:
            raise LexkitError(f"StickyConfig.sentences={self.sentences} leaves too few pairs to choose from; "
                              "pass sentences >= 3 (the paper uses 1000)")
        if not 0 < self.shortlist_percentile < 100:
            raise LexkitError(f"shortlist_percentile={self.shortlist_percentile} is outside (0, 100); "
                              "pass e.g. 98.0 for the top 2 %")
        if not 0 < self.pair_range <= 1:
            raise LexkitError(f"pair_range={self.pair_range} is outside (0, 1]; pass e.g. 0.8")
        for name in ("mode_weights", "score_weights"):
            if len(getattr(self, name)) != len(MODES):
                raise LexkitError(f"StickyConfig.{name} has {len(getattr(self, name))} values, one per mode "
                                  f"{MODES} is needed; pass three weights")
        if self.seed_scope not in ("process", "per_token"):
            raise LexkitError(f"seed_scope={self.seed_scope!r} is unknown; pass 'process' or 'per_token'")
        if self.mu_source not in ("raw_vocab", "decoded"):
            raise LexkitError(f"mu_source={self.mu_source!r} is unknown; pass 'raw_vocab' or 'decoded'")
        for name in ("max_tokens", "sample", "mu_sample"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise LexkitError(f"StickyConfig.{name}={getattr(self, name)} must be positive; "
                                  "pass None to score all tokens")
