"""Scaffold-BPE: BPE that drops low-frequency intermediate tokens from the vocabulary.

Source: Lian et al., "Scaffold-BPE: Enhancing Byte Pair Encoding for Large Language Models with Simple and
Effective Scaffold Token Removal", arXiv 2404.17808 (AAAI 2025). Plain BPE keeps every intermediate token,
including ones that almost only occur inside a longer token (the paper's example: ``zona`` inside
``Arizona``). Scaffold-BPE marks such a token *scaffold* when, right after a merge that consumed it, its own
frequency is strictly below that of the next queue item; scaffold tokens stay in the merge list (so longer
tokens can still be built) but get no embedding row, and re-enter the vocabulary when the queue reaches
their frequency again. Encoding runs BPE with every merge, then replaces each scaffold token by the
non-scaffold pieces of its defining merge (``lexkit.encoders.ScaffoldEncoder``).

The authors' code is not public; the rule follows the paper (arXiv 2404.17808) as two public
re-implementations read it (``bauwenst/TkTkT``, ``yerinNam/h-scaffold-bpe``). The training loop is the shared
HF-identical engine with a `lexkit.vocab._merge_engine.ScaffoldRule`, so counting, id numbering and tie-breaks
are exactly those of plain BPE. ``vocab_size`` counts non-scaffold tokens (the embedding rows); scaffold
tokens take the ids after them and are listed with their final training frequencies in
``metadata["scaffold_tokens"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lexkit.vocab._merge_engine import MergeResult, ScaffoldRule
from lexkit.vocab.bpe import BPEConfig, BPETrainer

__all__ = ["ScaffoldBPEConfig", "ScaffoldBPETrainer"]


@dataclass(frozen=True)
class ScaffoldBPEConfig(BPEConfig):
    """Settings of a Scaffold-BPE run: those of `BPEConfig` plus the re-activation switch.

    Args:
        reactivate: put scaffold tokens in the queue and re-activate them when popped (the paper's rule);
            False marks tokens scaffold for good (TkTkT's simpler variant).
    """

    reactivate: bool = True


class ScaffoldBPETrainer(BPETrainer):
    """Trains a Scaffold-BPE `Vocabulary`: ``model_size == vocab_size`` non-scaffold tokens plus scaffolds.

    >>> from lexkit import Tokenizer
    >>> from lexkit.vocab import train
    >>> corpus = ["Arizona Arizona Arizona zone zone"] * 5
    >>> vocabulary = train(corpus, ScaffoldBPEConfig(vocab_size=259, min_frequency=1), progress=False, workers=1)
    >>> vocabulary.model_size, len(vocabulary), vocabulary.metadata["encoder"]
    (259, 265, 'scaffold')
    >>> [token.content for token in vocabulary.tokens[256:]]
    [b'Arizona', b' Arizona', b' zone', b'on', b'zon', b'Ar', b'izon', b'Arizon', b' zon']
    >>> tokenizer = Tokenizer(vocabulary, encoder="scaffold")
    >>> [tokenizer.token_to_bytes(token_id) for token_id in tokenizer.encode(" zona")]
    [b' ', b'z', b'o', b'n', b'a']
    """

    name = "scaffold-bpe"
    config: ScaffoldBPEConfig

    def __init__(self, config: ScaffoldBPEConfig) -> None:
        super().__init__(config)

    @property
    def encoder(self) -> str:
        """Scaffold-BPE vocabularies encode with BPE followed by demolition of scaffold tokens."""
        return "scaffold"

    def _scaffold_rule(self, protected: int) -> ScaffoldRule:
        return ScaffoldRule(protected=protected, reactivate=self.config.reactivate)

    def _metadata(self, result: MergeResult[str], counts: Mapping[str, int]) -> dict[str, Any]:
        metadata = super()._metadata(result, counts)
        metadata["scaffold_reactivations"] = result.reactivations
        return metadata
