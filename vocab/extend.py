"""Vocabulary extension: add N domain tokens to an existing byte-level BPE tokenizer, keeping everything it had.

The usual way to adapt a model to a domain without losing its general text: instead of replacing the vocabulary,
continue its BPE training on domain text. The domain corpus is pre-tokenized with the base tokenizer's own
normalizer and pre-tokenizer, every distinct pre-token is encoded with the base (so every base merge applies),
and the shared merge engine (`lexkit.vocab._merge_engine`) continues the merge loop on those id sequences with
their counts. The N best new merges are appended after the base's merges, and their tokens get ids after the
base vocabulary. Base ids, base merges and special tokens stay unchanged, so text in which no new merge applies
encodes to exactly the base's ids.

subtle: a new merge may join two tokens into the content of a token the base already has (the base reaches it
through another split). The engine then reuses that id (as HF's trainer does) and the merge is kept: it is a valid
merge that the encoder applies at its new rank. A later new merge of a pair the merge list already holds (the
engine can meet a base pair next to a reused id) is dropped: the encoder already applies that pair at its
earlier rank.

A base in which no token holds a digit next to anything else (SmolLM2, Llama-3 style: digits split one by one,
which a tokenizer loaded from GGUF may not say in its pre-tokenizer) keeps that property: words are cut around
every digit before the merge loop, so no new token holds a digit and numbers encode exactly as before.

Handled: byte-level BPE vocabularies (GPT-2, Llama-3, Qwen, SmolLM2 style). Not handled: metaspace and
sentencepiece-style vocabularies, WordPiece, Unigram (a one-line error says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from lexkit._version import __version__
from lexkit.corpus.config import CountConfig
from lexkit.errors import LexkitError, VocabularyError
from lexkit.vocab.bpe import counts_sha256
from lexkit.vocabulary import Token, TokenKind, Vocabulary

__all__ = ["ExtendConfig", "extend", "extend_from_counts"]

# Kinds whose content is text the merge loop may produce again (their ids are reused); the others (special,
# unknown, unused) get opaque keys that no merge can reach.
_CONTENT_KINDS = (TokenKind.NORMAL, TokenKind.BYTE, TokenKind.ADDED)


@dataclass(frozen=True)
class ExtendConfig:
    """Settings of a vocabulary extension.

    Args:
        new_tokens: how many tokens to add after the base vocabulary.
        min_frequency: stop early when the best new pair occurs fewer times than this.
    """

    new_tokens: int
    min_frequency: int = 2

    def __post_init__(self) -> None:
        if self.new_tokens < 1:
            raise VocabularyError(f"new_tokens={self.new_tokens}: an extension adds at least one token; pass 1 or more")
        if self.min_frequency < 0:
            raise VocabularyError(f"min_frequency must be >= 0; got {self.min_frequency}")


def extend(
    base: Vocabulary,
    corpus: Any,
    config: ExtendConfig | None = None,
    *,
    counting: CountConfig | None = None,
    progress: bool = False,
    **options: Any,
) -> Vocabulary:
    """Extend a byte-level BPE vocabulary with new tokens learned on a corpus.

    Args:
        base: the vocabulary to extend (e.g. a model's, from `lexkit.formats.hf.from_hf`).
        corpus: a `lexkit.corpus.Corpus`, one path, or an iterable of texts (the domain text).
        config: the extension settings; None builds one from ``options`` (``new_tokens=...``).
        counting: reading and counting settings (`lexkit.corpus.CountConfig`); None builds one from the
            `CountConfig` fields in ``options`` (``workers=1``...).
        progress: show progress bars on stderr.
        **options: `ExtendConfig` fields when ``config`` is None, and `CountConfig` fields when ``counting`` is None.

    Returns:
        The extended vocabulary: the base's tokens and merges unchanged, the new tokens at ids ``len(base)`` and
        up, the new merges after the base's; ``metadata["extension"]`` records what was added and why it stopped.

    Raises:
        LexkitError: the base is not byte-level BPE, or the options are wrong.
        CorpusError: the corpus is missing, empty, binary or not valid UTF-8.
    """
    from dataclasses import fields

    from lexkit.corpus import count_pre_tokens

    count_names = {field.name for field in fields(CountConfig)}
    count_fields = {name: options.pop(name) for name in list(options) if name in count_names}
    if counting is None:
        counting = CountConfig(**count_fields)
    elif count_fields:
        raise LexkitError(f"got both counting= and the options {sorted(count_fields)}; put them in the CountConfig")
    if config is None:
        try:
            config = ExtendConfig(**options)
        except TypeError as exc:
            raise LexkitError(f"{exc}; pass extend(base, corpus, new_tokens=N)") from None
    elif options:
        raise LexkitError(f"got both config= and the options {sorted(options)}; put them in the ExtendConfig")
    _check_base(base)
    counts = count_pre_tokens(corpus, normalizer=base.normalizer, pre_tokenizer=base.pre_tokenizer, config=counting,
                              progress=progress)
    return extend_from_counts(base, counts, config)


def extend_from_counts(base: Vocabulary, counts: Mapping[str, int], config: ExtendConfig) -> Vocabulary:
    """Extend ``base`` from pre-token counts (surface strings of the base's own pre-tokenizer, as
    `lexkit.corpus.count_pre_tokens` returns them).

    Pre-tokens holding a byte the base has no token for are left out (the base cannot encode them either);
    ``metadata["extension"]["skipped_pre_tokens"]`` counts them.
    """
    from lexkit.formats.surface import decode_surface
    from lexkit.vocab._merge_engine import learn_merges

    _check_base(base)
    model = _base_model(base)
    byte_ids = base.byte_ids
    digits = {byte_ids[byte] for byte in _DIGITS if byte in byte_ids} if _isolates_digits(base) else set()
    word_table: dict[tuple[int, ...], int] = {}
    skipped = 0
    for surface, count in counts.items():
        content = decode_surface(surface)
        if content is None or any(byte not in byte_ids for byte in content):
            skipped += 1
            continue
        ids = [token.id for token in model.tokenize(surface)]
        for word in _cut_at(ids, digits) if digits else (ids,):
            word_table[tuple(word)] = word_table.get(tuple(word), 0) + count
    words, word_counts = [list(word) for word in word_table], list(word_table.values())
    keys: list[bytes | str] = [t.content if t.kind in _CONTENT_KINDS else f"\x00{t.kind.value}:{t.id}"
                               for t in base.tokens]
    result = learn_merges(words, word_counts, keys, vocab_size=len(base) + config.new_tokens,
                          min_frequency=config.min_frequency)
    ranks = dict(base.merge_ranks)
    merges = list(base.merges)
    reused = 0
    for left, right, merged in result.merges:
        if (left, right) in ranks:
            continue  # the merge list already holds this pair at an earlier rank (module docstring)
        ranks[(left, right)] = len(merges)
        merges.append((left, right))
        reused += merged < len(base)
    new_ids = range(len(base), len(result.keys))
    added = tuple(Token(token_id, _content(result.keys[token_id])) for token_id in new_ids)
    metadata = dict(base.metadata)
    metadata["extension"] = {
        "config": asdict(config), "base_size": len(base), "base_merges": len(base.merges),
        "new_tokens": len(added), "new_merges": len(merges) - len(base.merges), "merges_to_base_tokens": reused,
        "stop_reason": result.stop_reason, "pre_tokens": len(counts), "skipped_pre_tokens": skipped,
        "digits_kept_apart": bool(digits),
        "counts_sha256": counts_sha256(counts), "lexkit_version": __version__,
    }
    return base.replace(tokens=base.tokens + added, merges=tuple(merges), metadata=metadata)


_DIGITS = b"0123456789"


def _isolates_digits(base: Vocabulary) -> bool:
    """True when no text token of the base joins a digit to another byte (its digits are split one by one)."""
    return not any(len(token.content) > 1 and any(byte in _DIGITS for byte in token.content)
                   for token in base.tokens if token.kind in (TokenKind.NORMAL, TokenKind.BYTE))


def _cut_at(ids: list[int], digits: set[int]) -> list[list[int]]:
    """The runs of ``ids`` between digit tokens, and each digit alone (a digit then never meets a merge)."""
    words: list[list[int]] = [[]]
    for token_id in ids:
        if token_id in digits:
            words += [[token_id], []]
        else:
            words[-1].append(token_id)
    return [word for word in words if word]


def _content(key: bytes | str) -> bytes:
    assert isinstance(key, bytes), "merges only join byte contents (opaque keys never occur in a word)"
    return key


def _check_base(base: Vocabulary) -> None:
    """Refuse vocabularies the extension cannot continue exactly, with the reason."""
    from lexkit.formats.hf import surface_scheme

    if base.model != "bpe" or base.alphabet.kind != "bytes":
        raise LexkitError(f"the base vocabulary is a {base.model} model over {base.alphabet.kind}; extension "
                          "continues byte-level BPE merges only; pass a byte-level BPE tokenizer (GPT-2, Llama-3, "
                          "Qwen, SmolLM2 style)")
    if surface_scheme(base)[0] != "byte-level":
        raise LexkitError("the base vocabulary has no ByteLevel pre-tokenizer/decoder; extension continues "
                          "byte-level BPE merges only; pass a byte-level BPE tokenizer (GPT-2, Llama-3, Qwen, SmolLM2 "
                          "style), or train a new vocabulary with lexkit.vocab.train")
    if any(token.scaffold for token in base.tokens):
        raise LexkitError("the base vocabulary has scaffold tokens (Scaffold-BPE); their encoder demolishes tokens "
                          "after BPE, which an extension cannot continue; extend a plain BPE vocabulary")


def _base_model(base: Vocabulary) -> Any:
    """The base's BPE model in HF ``tokenizers``: ``tokenize(surface)`` encodes one pre-token with every merge."""
    from lexkit import Tokenizer

    return Tokenizer(base, encoder="bpe").encoder.backend.model  # type: ignore[attr-defined]
