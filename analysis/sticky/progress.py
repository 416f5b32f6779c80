"""How long a sticky-token run will take, and where it keeps its resumable partial results.

The full detector on all-MiniLM-L6-v2 embeds about 5.2M texts (hours on a CPU), so the user is told the expected
time from a timed first batch before the bulk of the work starts, and the run checkpoints by default so an
interruption costs one chunk, not the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RunEstimate", "candidate_count", "verify_texts_per_token", "text_tokens", "default_checkpoint_dir",
]


@dataclass(frozen=True)
class RunEstimate:
    """The remaining work of a run, projected from its first timed batch.

    Attributes:
        stage: the stage whose first batch was timed (``"score"``, or ``"verify"`` when every score came from
            the checkpoint).
        batch_tokens: tokens in the timed batch. batch_texts: texts it embedded. batch_seconds: its wall time.
        score_texts_left: texts the rest of scoring will embed (the batch's texts per token times the tokens
            left).
        verify_texts_left: texts verification will embed (candidates not yet in the checkpoint times the
            distinct insertion texts of one candidate, an upper bound: random insertions rarely coincide).
        elapsed: seconds already spent when the estimate was made (μ, pairs, filtering and the batch).
        verify_cost: the expected length of a verification text over that of a scoring text (`text_tokens`):
            the encoder's throughput is about constant in tokens, not texts, and the 250 verification pairs
            have other sentences than the 5 scoring pairs (on all-MiniLM-L6-v2 with corpus pairs the
            verification texts embedded 1.6x slower per text).
    """

    stage: str
    batch_tokens: int
    batch_texts: int
    batch_seconds: float
    score_texts_left: int
    verify_texts_left: int
    elapsed: float
    verify_cost: float = 1.0

    @property
    def texts_per_second(self) -> float:
        """Embedding throughput measured on the batch."""
        return self.batch_texts / max(self.batch_seconds, 1e-9)

    @property
    def seconds_left(self) -> float:
        """Projected seconds until the report: the batch's throughput, verification texts weighted by their
        relative length."""
        return (self.score_texts_left + self.verify_texts_left * self.verify_cost) / self.texts_per_second

    def describe(self) -> str:
        """One line for the user, e.g. ``estimated 3.6 h more (5.1M texts at 395 texts/s; ...)``."""
        rate = self.texts_per_second
        parts = []
        if self.score_texts_left:
            parts.append(f"scoring {_duration(self.score_texts_left / rate)}")
        parts.append(f"verification {_duration(self.verify_texts_left * self.verify_cost / rate)}")
        return (f"estimated {_duration(self.seconds_left)} more: {_count(self.score_texts_left + self.verify_texts_left)}"
                f" texts at {rate:,.0f} texts/s ({', '.join(parts)}), timed on the first {self.stage} batch of "
                f"{self.batch_tokens} tokens ({self.batch_texts:,} texts in {self.batch_seconds:.1f} s); "
                f"{_duration(self.elapsed)} spent so far")

    def to_json(self) -> dict[str, Any]:
        """The fields plus the derived throughput and projection, for the report."""
        return {**asdict(self), "texts_per_second": round(self.texts_per_second, 1),
                "seconds_left": round(self.seconds_left, 1)}


def candidate_count(tokens: int, percentile: float) -> int:
    """Tokens the shortlist will hold: those at or above the ``percentile`` score (the top ``100 - percentile``
    %), at least one."""
    return max(1, math.ceil(tokens * (100.0 - percentile) / 100.0)) if tokens else 0


def verify_texts_per_token(second_sentences: Sequence[str], insertions: int) -> int:
    """Distinct insertion texts of one candidate on the verification pairs (given by their ``s2``): prefix and
    suffix texts once per distinct sentence, random insertions once per pair occurrence."""
    return 2 * insertions * len(set(second_sentences)) + insertions * len(second_sentences)


def text_tokens(sentence_tokens: Sequence[int], insertions: int) -> float:
    """Mean tokens of an insertion text over pairs whose second sentences have ``sentence_tokens`` tokens: the
    sentence, on average (insertions + 1) / 2 inserted tokens, and two for the encoder's special tokens."""
    return sum(sentence_tokens) / max(len(sentence_tokens), 1) + (insertions + 1) / 2 + 2


def default_checkpoint_dir(output: Path) -> Path:
    """The checkpoint folder beside a report: ``reports/minilm.json`` -> ``reports/minilm.checkpoint``.

    Reports of the same run in other formats (``minilm.md``) share it; the fingerprint in every checkpoint
    line keeps runs with other settings apart.
    """
    return output.parent / f"{output.stem}.checkpoint"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1_000_000 else f"{n:,}"
