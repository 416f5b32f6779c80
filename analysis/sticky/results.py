"""What the detector measures: filter categories, sentence pairs, per-token rows and the `StickyTokenReport`."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Category", "SimilarityStats", "SentencePair", "PairSets", "TokenInfo", "ScoreRow", "VerificationRow",
    "StickyEntry", "FinalCut", "StickyTokenReport",
]


class Category(str, enum.Enum):
    """Filter category of step 4 (magikarp's reachability classes); only OK and OK_SPECIAL are scored."""

    MEANINGLESS = "MEANINGLESS"
    OK = "OK"
    OK_SPECIAL = "OK_SPECIAL"
    UNREACHABLE_SPECIAL = "UNREACHABLE_SPECIAL"
    UNDECODEABLE = "UNDECODEABLE"
    UNREACHABLE_SINGLE_TOKEN = "UNREACHABLE_SINGLE_TOKEN"
    UNREACHABLE_MULTI_TOKEN = "UNREACHABLE_MULTI_TOKEN"

    @property
    def scored(self) -> bool:
        """Whether tokens of this category take part in scoring."""
        return self in (Category.OK, Category.OK_SPECIAL)


@dataclass(frozen=True)
class SimilarityStats:
    """Pairwise cosine similarity over all ordered pairs (self-pairs included) of a set of embeddings.

    Attributes:
        mean: μ. median: the median, exact to ``1e-4`` (a histogram). std: the standard deviation.
        count: how many texts were embedded.
    """

    mean: float
    median: float
    std: float
    count: int


@dataclass(frozen=True)
class SentencePair:
    """Two sentences and their cosine similarity; ``s2`` receives the insertions."""

    s1: str
    s2: str
    similarity: float


@dataclass(frozen=True)
class PairSets:
    """The scoring and verification pairs (step 3) and where they came from.

    Attributes:
        scoring: pairs for the sticky score. verification: pairs for verification (repeats allowed).
        spread_pairs: how many pairs step 2 spread over the similarity range.
        low: lower end of the pair range (the smallest similarity). high: upper end.
        source: a description of the sentence source. comparable: whether the pairs are the paper's own.
    """

    scoring: tuple[SentencePair, ...]
    verification: tuple[SentencePair, ...]
    spread_pairs: int
    low: float
    high: float
    source: str
    comparable: bool


@dataclass(frozen=True)
class TokenInfo:
    """A vocabulary entry as the detector sees it.

    Attributes:
        token_id: the id. text: the decoded string inserted into sentences. raw: the vocabulary's surface
        string. category: the step-4 filter category. kind: lexkit's descriptive kind (special, unused,
        fragment, word, other).
    """

    token_id: int
    text: str
    raw: str
    category: Category
    kind: str


@dataclass(frozen=True)
class ScoreRow:
    """Sticky scores of one token (step 5) under the three distances; ``cos`` is the one used."""

    token_id: int
    cos: float
    euc: float
    man: float


@dataclass(frozen=True)
class VerificationRow:
    """Weighted success rates of one token on the verification pairs (step 7), in [0, 1]."""

    token_id: int
    cos: float
    euc: float
    man: float


@dataclass(frozen=True)
class StickyEntry:
    """One row of the report's candidate and final tables (one object of the JSON report's lists)."""

    token_id: int
    token: str
    raw: str
    category: str
    kind: str
    score: float
    score_euclidean: float
    score_manhattan: float
    verification: dict[str, float]
    rank: int


@dataclass(frozen=True)
class FinalCut:
    """Step 8 over the candidates' cosine verification values: sticky iff value > cut."""

    q1: float
    q3: float
    iqr: float
    cut: float


@dataclass
class StickyTokenReport:
    """Everything one detector run measured; render it with `lexkit.analysis.sticky.render`.

    Attributes:
        model: the model's name or folder. mean_similarity: μ with median and std.
        category_counts: tokens per filter category. kind_counts: scored tokens per descriptive kind.
        scored: how many tokens were scored. threshold: the shortlist score threshold.
        candidates: the shortlist with scores and verification values, best verification first.
        cut: Q1/Q3/IQR/cut. final: the sticky tokens, ranked. pairs: pair provenance (no sentences).
        timings: seconds per stage. texts_embedded: texts sent to the model per stage (after de-duplication).
        config: every `StickyConfig` value. device: where the model ran.
        precision: the embedder's arithmetic (``fp32``; ``bf16`` for ``--fast``, ``bf16+compile`` with ``--compile``).
        estimate: the projection made from the first timed batch (`RunEstimate.to_json`), empty when every
            result came from the checkpoint.
    """

    model: str
    mean_similarity: SimilarityStats
    category_counts: dict[str, int]
    kind_counts: dict[str, int]
    scored: int
    threshold: float
    candidates: list[StickyEntry]
    cut: FinalCut
    final: list[StickyEntry]
    pairs: dict[str, Any]
    timings: dict[str, float]
    texts_embedded: dict[str, int]
    config: dict[str, Any]
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"
    estimate: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (dataclasses become dictionaries)."""
        return asdict(self)
