"""Plain byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant), HF-identical merges.

Counting (normalize, pre-tokenize, count pre-tokens) runs in parallel in `lexkit.corpus`; the merge loop is
the shared engine in `lexkit.vocab._merge_engine`, which reproduces HF ``tokenizers``' ``BpeTrainer`` merge list
exactly (same id order, tie-breaking and duplicate-result handling).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Literal

from lexkit._gc import paused_gc
from lexkit._version import __version__
from lexkit.errors import VocabularyError
from lexkit.formats.surface import bytes_to_unicode, unicode_to_bytes
from lexkit.vocab._merge_engine import MergeResult, ScaffoldRule
from lexkit.vocabulary import AddedTokenOptions, Token, TokenKind, Vocabulary

_kernel: ModuleType | None
try:
    from lexkit.vocab import _merge_kernel as _kernel
except ImportError:  # not built: counts_sha256 formats the text in Python
    _kernel = None

__all__ = ["PreTokenizerName", "NormalizerName", "ALPHABET_SIZE", "BPEConfig", "BPETrainer", "counts_sha256"]

PreTokenizerName = Literal["gpt2", "cl100k", "o200k", "whitespace", "none"]
NormalizerName = Literal["none", "nfkc", "lowercase", "nfkc-lowercase"]
ALPHABET_SIZE = 256


def counts_sha256(counts: Mapping[str, int]) -> str:
    """The fingerprint of pre-token counts stored as ``metadata["counts_sha256"]``: sha256 of ``word NUL count
    NUL`` for every word in sorted order, so equal counts give equal digests whatever their order.

    >>> counts_sha256({"b": 2, "a": 1}) == counts_sha256({"a": 1, "b": 2})
    True
    """
    if _kernel is not None and isinstance(counts, dict):
        text = _kernel.counts_text(None, counts)  # the same bytes, sorted and formatted in C
    else:
        text = "".join(f"{word}\x00{counts[word]}\x00" for word in sorted(counts)).encode()
    return hashlib.sha256(text).hexdigest()


def _decode_surfaces(surfaces: list[str]) -> list[bytes]:
    """`lexkit.formats.surface.decode_surface` of many byte-level surfaces at once: one translate and one encode
    of their concatenation (each table character stands for one byte), cut at the surfaces' lengths."""
    table = unicode_to_bytes()
    joined = "".join(surfaces)
    assert set(joined) <= table.keys(), "byte-level training only produces table characters"
    data = joined.translate({ord(char): byte for char, byte in table.items()}).encode("latin-1")
    contents, start = [], 0
    for surface in surfaces:
        contents.append(data[start:start + len(surface)])
        start += len(surface)
    return contents


@dataclass(frozen=True)
class BPEConfig:
    """Settings of a byte-level BPE training run (HF ``BpeTrainer`` names and semantics).

    Args:
        vocab_size: target number of tokens, specials and the 256 bytes included.
        min_frequency: stop when the most frequent pair occurs fewer times.
        special_tokens: special tokens, given ids 0.. in this order.
        pre_tokenizer: pre-token boundaries: GPT-2, cl100k or o200k regex, whitespace, or none (whole lines).
        normalizer: text normalization before pre-tokenization.
        max_token_length: longest token in characters of the byte-level surface, as HF counts it.
        split_digits: put every digit in its own pre-token first.
    """

    vocab_size: int
    min_frequency: int = 2
    special_tokens: tuple[str, ...] = ()
    pre_tokenizer: PreTokenizerName = "gpt2"
    normalizer: NormalizerName = "none"
    max_token_length: int | None = None
    split_digits: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "special_tokens", tuple(self.special_tokens))
        floor = ALPHABET_SIZE + len(self.special_tokens)
        if self.vocab_size < floor:
            raise VocabularyError(
                f"vocab size {self.vocab_size} is below the alphabet size: byte-level BPE needs 256 byte tokens "
                f"plus {len(self.special_tokens)} special tokens = {floor}; pass --vocab-size {floor} or more"
            )
        if len(set(self.special_tokens)) != len(self.special_tokens) or "" in self.special_tokens:
            raise VocabularyError(f"special tokens must be distinct and non-empty; got {self.special_tokens}")
        if self.min_frequency < 0:
            raise VocabularyError(f"min_frequency must be >= 0; got {self.min_frequency}")
        if self.max_token_length is not None and self.max_token_length < 1:
            raise VocabularyError(f"max_token_length must be >= 1; got {self.max_token_length}")

    def components(self) -> dict[str, Any]:
        """The HF component JSON (normalizer, pre_tokenizer, decoder) these settings stand for."""
        from lexkit import components as c

        normalizers = {
            "none": None, "nfkc": c.nfkc_normalizer(), "lowercase": c.lowercase_normalizer(),
            "nfkc-lowercase": c.sequence([c.nfkc_normalizer(), c.lowercase_normalizer()]),
        }
        if self.pre_tokenizer in ("gpt2", "cl100k", "o200k", "none"):
            pre = c.byte_level_pre_tokenizer(self.pre_tokenizer)
        else:
            pre = c.sequence([c.whitespace_pre_tokenizer(), c.byte_level_pre_tokenizer("none")])
        if self.split_digits:
            pre = c.sequence([c.digits_pre_tokenizer(individual_digits=True), pre])
        return {"normalizer": normalizers[self.normalizer], "pre_tokenizer": pre,
                "decoder": c.byte_level_decoder()}


class BPETrainer:
    """Trains a byte-level BPE `Vocabulary` from pre-token counts (HF ``BpeTrainer``'s exact merges).

    Subclasses (`lexkit.vocab.scaffold.ScaffoldBPETrainer`, `lexkit.vocab.lbpe.LBPETrainer`) change the
    engine rule, the final id layout or the encoder; counting and numbering are shared.
    """

    name = "bpe"

    def __init__(self, config: BPEConfig) -> None:
        self.config = config

    @property
    def encoder(self) -> str:
        """The encoder the trained vocabulary is meant for (recorded as ``metadata["encoder"]``)."""
        return "bpe"

    def train_from_counts(self, counts: Mapping[str, int], *, progress: bool = False) -> Vocabulary:
        """Learn merges from pre-token counts (byte-level surface strings, as HF's trainer counts them).

        Args:
            counts: pre-token surface string -> count, as `lexkit.corpus.count_pre_tokens` returns them.
            progress: show a progress bar of the merges on stderr.

        Returns:
            The trained vocabulary (HF's id order: specials, the 256 bytes in GPT-2 character order, merges).
        """
        from lexkit.vocab._hf_compat import hf_words, learn_with_progress

        config = self.config
        # The collector paused throughout, not only in the merge loop: building the vocabulary's tokens
        # otherwise triggers full collections that rescan everything (about 7 % of a 10 MB run).
        with paused_gc():
            prepared = hf_words(
                counts, special_tokens=list(config.special_tokens),
                initial_alphabet=list(bytes_to_unicode().values()),
            )
            result = learn_with_progress(
                prepared, vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                max_token_length=config.max_token_length, scaffold=self._scaffold_rule(len(prepared.keys)),
                progress=progress,
            )
            return self._vocabulary(result, counts)

    def _scaffold_rule(self, protected: int) -> ScaffoldRule | None:
        """The engine's Scaffold-BPE rule for ``protected`` initial ids (None: plain BPE)."""
        return None

    def _vocabulary(self, result: MergeResult[str], counts: Mapping[str, int]) -> Vocabulary:
        from lexkit.vocab._hf_compat import stored_merges

        specials = set(self.config.special_tokens)
        contents = iter(_decode_surfaces([surface for surface in result.keys if surface not in specials]))
        tokens = []
        for token_id, surface in enumerate(result.keys):
            if surface in specials:
                options = AddedTokenOptions(in_model_vocab=True)
                tokens.append(Token(token_id, surface.encode("utf-8"), TokenKind.SPECIAL, added=options))
            else:
                tokens.append(Token(token_id, next(contents), scaffold=token_id in result.scaffolds))
        vocabulary = Vocabulary(
            tokens=tuple(tokens), merges=tuple(stored_merges(result.merges)),
            metadata=self._metadata(result, counts), **self.config.components(),
        )
        if result.scaffolds:
            # vocabulary tokens keep their creation order at ids 0..N-1, scaffolds follow.
            order = sorted(range(len(tokens)), key=lambda token_id: (token_id in result.scaffolds, token_id))
            mapping = [0] * len(order)
            for new_id, old_id in enumerate(order):
                mapping[old_id] = new_id
            vocabulary = vocabulary.renumber(mapping)
            metadata = dict(vocabulary.metadata)
            metadata["scaffold_tokens"] = [
                [mapping[token_id], result.frequencies[token_id]] for token_id in sorted(result.scaffolds)
            ]
            vocabulary = vocabulary.replace(metadata=metadata)
        return vocabulary

    def _metadata(self, result: MergeResult[str], counts: Mapping[str, int]) -> dict[str, Any]:
        encoder_size = len(result.keys)
        return {
            "trainer": self.name, "config": asdict(self.config), "encoder": self.encoder,
            "lexkit_version": __version__, "tie_break": "hf-bpe-trainer", "counts_sha256": counts_sha256(counts),
            "pre_tokens": len(counts), "stop_reason": result.stop_reason,
            # model size = embedding rows, all symbols the encoder knows, merges learned.
            "model_size": encoder_size - len(result.scaffolds), "encoder_size": encoder_size,
            "num_merges": len(result.merges),
        }
