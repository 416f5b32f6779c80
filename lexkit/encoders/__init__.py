"""Named encoders: how a `Vocabulary` turns ordinary text (no special tokens) into ids.

One module per encoder family: `lexkit.encoders.hf` (HF-engine encoders), `.scaffold`, `.lbpe`, `.morph` and
`.visual`; `.base` holds the `Encoder` base class. Encoders that HF ``tokenizers`` can express compile the
vocabulary to a ``tokenizer.json`` and run it in `lexkit.engine` (fastokens where it reproduces HF, else HF's own
Rust engine); `lexkit._reference` holds the slow, obviously-correct versions they are tested against. The
registry (`ENCODERS`) is a static dictionary; a new encoder family adds its module and its entry here.

- ``bpe``: merges by rank (HF merge-list semantics).
- ``scaffold``: Scaffold-BPE (Lian et al., arXiv 2404.17808): BPE with every merge in the HF engine, then a
  numpy lookup replaces each scaffold id by the non-scaffold pieces of its defining merge ("demolishing").
- ``long-first``: LBPE (Lian et al., arXiv 2411.05504) reading B: BPE whose merges are re-ranked by the length
  of the merged token, longest first, ties by rank; a plain BPE model to HF, so it runs at BPE speed.
- ``longest-token``: LBPE reading A / FLOTA (Hofmann et al. 2022): the longest vocabulary token anywhere in
  the pre-token, leftmost among equals, then both sides recursively.
- ``longest-pair``: LBPE's vocabulary reading: merge the adjacent pair that spells the longest vocabulary
  token, merge rule or not; exports as a BPE ``tokenizer.json`` over every split of every token.
- ``fewest-tokens``: LBPE's default: the fewest tokens per pre-token, the latest-learned among those. The three
  LBPE readings above run in the C kernel of `lexkit._lbpe` (Python when it is not built).
- ``longest-prefix`` (WordPiece) and ``unigram``: the HF models of those vocabularies.
- ``morph``: root/affix lexicon first, BPE fallback (Bayram et al., arXiv 2508.14292).
- ``visual``: 2-D merges on code grids (visual BPE); encodes grids, not text.

Every encoder can say how it exports as a standalone ``tokenizer.json`` (`Encoder.to_hf`): ``scaffold`` only
lossily (the file would emit scaffold ids), ``longest-token`` and ``fewest-tokens`` not at all.
"""

from __future__ import annotations

from lexkit.encoders.base import Encoder
from lexkit.encoders.hf import BPEEncoder, HFEncoder, LongestPrefixEncoder, UnigramEncoder
from lexkit.encoders.lbpe import (
    FewestTokensEncoder,
    LongestPairEncoder,
    LongestTokenEncoder,
    LongFirstEncoder,
    long_first_order,
)
from lexkit.encoders.morph import MorphEncoder
from lexkit.encoders.scaffold import ScaffoldEncoder
from lexkit.encoders.visual import VisualEncoder
from lexkit.errors import LexkitError
from lexkit.vocabulary import Vocabulary

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "BPEEncoder",
    "Encoder",
    "FewestTokensEncoder",
    "HFEncoder",
    "LongFirstEncoder",
    "LongestPairEncoder",
    "LongestPrefixEncoder",
    "LongestTokenEncoder",
    "MorphEncoder",
    "ScaffoldEncoder",
    "UnigramEncoder",
    "VisualEncoder",
    "encoders_for",
    "get_encoder",
    "long_first_order",
]

ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls
    for cls in (BPEEncoder, ScaffoldEncoder, LongFirstEncoder, LongestTokenEncoder, LongestPairEncoder,
                FewestTokensEncoder, LongestPrefixEncoder, UnigramEncoder, VisualEncoder, MorphEncoder)
}
DEFAULT_ENCODER = {"bpe": "bpe", "wordpiece": "longest-prefix", "unigram": "unigram"}


def encoders_for(vocabulary: Vocabulary) -> list[str]:
    """Names of the registered encoders that apply to this vocabulary's model family and alphabet."""
    only = vocabulary.metadata.get("only_encoders")
    return [name for name, cls in ENCODERS.items()
            if not (isinstance(only, list) and name not in only)
            and vocabulary.model in cls.models and vocabulary.alphabet.kind in cls.alphabets]


def get_encoder(name: str, vocabulary: Vocabulary) -> Encoder:
    """Instantiate the encoder registered as ``name`` for ``vocabulary``.

    Raises:
        LexkitError: no encoder has that name, or it does not apply to this vocabulary.
    """
    cls = ENCODERS.get(name)
    if cls is None:
        raise LexkitError(f"unknown encoder {name!r}; registered encoders: {', '.join(ENCODERS)}")
    return cls(vocabulary)
