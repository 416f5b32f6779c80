"""Sticky-token detection in text-embedding models (the Sticky Token Detector of Chen et al., ACL 2025).

A sticky token, inserted again and again into a sentence, pulls that sentence's similarity to unrelated
sentences toward the model's mean pairwise similarity μ; downstream tasks degrade when such tokens slip into
text. Paper: Kexin Chen, Dongxia Wang, Yi Liu, Haonan Zhang, Wenhai Wang, "Sticking to the Mean: Detecting
Sticky Tokens in Text Embedding Models", ACL 2025 (arXiv 2507.18171); reference code ``March-7/StickyToken``.

The pipeline follows the authors' code (the published lists come from it), quirks included, each behind a
`StickyConfig` option:

0. μ over the raw vocabulary strings embedded alone (`StickyTokenDetector.mean_similarity`).
1-3. sentence pairs spread over the similarity range, then pairs below μ picked by nearest target
   (`StickyTokenDetector.select_pairs`).
4. token filtering by a decode / re-encode round trip through lexkit's `Tokenizer`
   (`StickyTokenDetector.categorize_tokens`).
5. sticky score on the scoring pairs (`StickyTokenDetector.score`), 6. shortlist at the 98th percentile,
7. verification on more pairs (`StickyTokenDetector.verify`), 8. the final cut Q3 + 0.7 · IQR.

Speed without changing results: every distinct text is embedded once (the verification set repeats pairs),
E(s1), E(s2) and E(token alone) are cached, tokens are scored in chunks across tokens with length-sorted
batches (`lexkit.embedders.TransformersEmbedder`), and all random insertion positions are drawn before any
embedding, in the plain loop's order, so batching never changes a draw.

Modules, one job each: `config` (settings, the `Embedder` protocol), `results` (the dataclasses a run returns),
`sentences` (steps 1-3), `categories` (step 4), `scoring` (pure kernels of steps 0 and 5-8), `detector` (the
pipeline), `checkpoint` (resumable partial results), `progress` (the run-time estimate), `render` (JSON, Markdown,
HTML), `downstream` (the retrieval check) and `agreement` (how two runs of the same subset agree: ``--fast``
against fp32). The detector's public names are importable from this package.
"""

from __future__ import annotations

from lexkit.analysis.sticky.categories import (
    LEADING_SPACE_MARKS,
    SENTINEL,
    adds_leading_space,
    categorize,
    raw_vocab_strings,
    special_ids,
    token_kind,
)
from lexkit.analysis.sticky.config import (
    DEFAULT_SPECIAL_ROLES,
    METRICS,
    MODES,
    SCORE_CONSTANTS,
    Embedder,
    StickyConfig,
)
from lexkit.analysis.sticky.detector import (
    StickyTokenDetector,
)
from lexkit.analysis.sticky.results import (
    Category,
    FinalCut,
    PairSets,
    ScoreRow,
    SentencePair,
    SimilarityStats,
    StickyEntry,
    StickyTokenReport,
    TokenInfo,
    VerificationRow,
)
from lexkit.analysis.sticky.scoring import (
    distances,
    draw_positions,
    final_cut,
    insertion_texts,
    pair_mode_scores,
    rank_entries,
    shortlist_threshold,
    similarity_stats,
    verification_successes,
)
from lexkit.analysis.sticky.sentences import (
    pick_below_mean,
    read_pairs_csv,
    sample_sentences,
    split_sentences,
    spread_pairs,
)

__all__ = [
    "Category",
    "DEFAULT_SPECIAL_ROLES",
    "Embedder",
    "FinalCut",
    "LEADING_SPACE_MARKS",
    "METRICS",
    "MODES",
    "PairSets",
    "SCORE_CONSTANTS",
    "SENTINEL",
    "ScoreRow",
    "SentencePair",
    "SimilarityStats",
    "StickyConfig",
    "StickyEntry",
    "StickyTokenDetector",
    "StickyTokenReport",
    "TokenInfo",
    "VerificationRow",
    "adds_leading_space",
    "categorize",
    "distances",
    "draw_positions",
    "final_cut",
    "insertion_texts",
    "pair_mode_scores",
    "pick_below_mean",
    "rank_entries",
    "raw_vocab_strings",
    "read_pairs_csv",
    "sample_sentences",
    "shortlist_threshold",
    "similarity_stats",
    "special_ids",
    "split_sentences",
    "spread_pairs",
    "token_kind",
    "verification_successes",
]
