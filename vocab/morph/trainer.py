"""The ``morph`` trainer: lexicon roots and affix classes, then a BPE fallback on what they leave uncovered.

Source: Bayram et al., arXiv 2508.14292 (docs/morph.md). Steps:

1. Count the corpus's words (text split on space, newline and tab; case kept).
2. Keep the roots the corpus uses most (longest root match at each word start, after case splitting), then
   fill the root budget (``root_share`` of ``vocab_size``) in lexicon order; keep every affix class.
3. Encode every distinct word with that lexicon (`lexkit.encoders.morph.MorphEncoder`, realizer check included) and
   collect the text the lexicon leaves to the fallback, split into letter / digit / other runs.
4. Train byte-level BPE with the shared engine on those runs to the remaining id budget; ids it cannot use
   (too little leftover text) go to further roots in the same ranking.

Id layout: 7 control tokens (``<uppercase>``, ``<unknown>``, space, newline, tab, ``<pad>``, ``<eos>``; space,
newline and tab are also the fallback's bytes for those characters), roots, affix classes (content ``##`` + the class
name, e.g. ``##lAr``), the other 253 bytes, BPE merges. A merge whose result spells a root reuses the root's id, so the
vocabulary can end a few ids short of ``vocab_size`` (``metadata["model_size"]`` says how many).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lexkit._version import __version__
from lexkit.encoders.morph import AFFIX_PREFIX, CONTROL_TOKENS, RESIDUE_SPLIT, MorphEncoder
from lexkit.errors import VocabularyError
from lexkit.formats.surface import bytes_to_unicode
from lexkit.vocab.bpe import counts_sha256
from lexkit.vocab.morph.lexicon import Lexicon, load_lexicon
from lexkit.vocabulary import Token, TokenKind, Vocabulary

__all__ = ["WORD_SPLIT", "MorphConfig", "MorphTrainer"]

#: Pre-tokenizer used for counting: words are the text between spaces, newlines and tabs.
WORD_SPLIT: dict[str, Any] = {"type": "Split", "pattern": {"Regex": "[ \\n\\t]+"}, "behavior": "Removed",
                              "invert": False}
_KINDS = {"uppercase": TokenKind.SPECIAL, "unknown": TokenKind.UNKNOWN, "pad": TokenKind.SPECIAL,
          "eos": TokenKind.SPECIAL}


@dataclass(frozen=True)
class MorphConfig:
    """Settings of a morphological hybrid training run.

    Args:
        vocab_size: total ids (controls, roots, affix classes, the 256 bytes and BPE merges).
        lexicon: path of a lexicon file (`lexkit.vocab.morph.lexicon` documents the format).
        root_share: this share of ``vocab_size`` goes to roots first (the paper: 20,000 of 32,768); ids the BPE
            fallback leaves unused (it stops when no pair occurs ``min_frequency`` times) go to further roots.
        roots_only_at_word_start: match roots only until the first root or affix of a word (then affixes and
            BPE); off = the released tokenizer's behaviour (roots tried at every position).
        min_frequency: the BPE fallback stops when the best pair is rarer.
    """

    vocab_size: int
    lexicon: str
    root_share: float = 0.6
    roots_only_at_word_start: bool = False
    min_frequency: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.root_share < 1:
            raise VocabularyError(f"root_share must be in [0, 1); got {self.root_share}")
        if self.min_frequency < 0:
            raise VocabularyError(f"min_frequency must be >= 0; got {self.min_frequency}")
        if self.vocab_size < len(CONTROL_TOKENS) + 256:
            raise VocabularyError(
                f"vocab size {self.vocab_size} is too small: the morph tokenizer needs {len(CONTROL_TOKENS)} control "
                "tokens and 256 fallback bytes plus roots and affixes; pass --vocab-size 4096 or more"
            )

    def components(self) -> dict[str, Any]:
        """Counting pipeline: no normalizer, words split on space/newline/tab."""
        return {"normalizer": None, "pre_tokenizer": WORD_SPLIT, "decoder": None}


class MorphTrainer:
    """Trains a morph `Vocabulary` from word counts (see the module docstring)."""

    name = "morph"
    encoder = "morph"

    def __init__(self, config: MorphConfig, lexicon: Lexicon | None = None) -> None:
        self.config = config
        self.lexicon = lexicon if lexicon is not None else load_lexicon(config.lexicon)

    def train_from_counts(self, counts: Mapping[str, int], *, progress: bool = False) -> Vocabulary:
        """Choose roots, encode the words, train the fallback on the leftovers, assemble the vocabulary.

        Args:
            counts: word -> count (the text between spaces, newlines and tabs, case kept).
            progress: progress bars on stderr.

        Raises:
            VocabularyError: the lexicon's roots and affixes leave fewer than 256 ids for the fallback bytes.
        """
        from tqdm import tqdm

        config, lexicon = self.config, self.lexicon
        affix_count = len(lexicon.affixes)
        budget = config.vocab_size - len(CONTROL_TOKENS) - affix_count - 253
        if budget < 0:
            raise VocabularyError(
                f"vocab size {config.vocab_size} cannot hold {len(CONTROL_TOKENS)} controls, {affix_count} affix "
                f"classes and 256 bytes; pass --vocab-size {config.vocab_size - budget + 1024} or more"
            )
        roots = self._choose_roots(counts, min(int(config.root_share * config.vocab_size), budget))
        draft = self._vocabulary(roots, [], [])
        encoder = MorphEncoder(draft)
        residue: Counter[str] = Counter()
        for word, count in tqdm(counts.items(), desc="morph: lexicon pass", unit="word", disable=not progress):
            for piece in encoder.word_pieces(word):
                if isinstance(piece, str):
                    for run in RESIDUE_SPLIT.findall(piece):
                        residue[run] += count
        merges_budget = config.vocab_size - len(draft)
        bpe_tokens, bpe_merges = self._train_fallback(residue, merges_budget, progress)
        vocabulary = self._vocabulary(roots, bpe_tokens, bpe_merges, counts=counts, stats=encoder.stats)
        # The fallback stops early when no leftover pair occurs min_frequency times; its unused ids go to the
        # next roots in the same ranking (a prefix-stable list), so the vocabulary reaches vocab_size when the
        # lexicon has roots to spare. A few rounds: a new root can spell an existing BPE token.
        for _ in range(3):
            shortfall = config.vocab_size - len(vocabulary)
            if shortfall <= 0 or len(roots) >= len(lexicon.roots):
                break
            roots = self._choose_roots(counts, len(roots) + shortfall)
            vocabulary = self._vocabulary(roots, bpe_tokens, bpe_merges, counts=counts, stats=encoder.stats)
        return vocabulary

    def _choose_roots(self, counts: Mapping[str, int], budget: int) -> list[int]:
        """Indices into the lexicon's roots: most used in the corpus first, then lexicon order."""
        lexicon = self.lexicon
        lower = lexicon.phonology.lower_text
        index: dict[str, int] = {}
        for position, root in enumerate(lexicon.roots):
            for form in root.forms:
                index.setdefault(form, position)
        longest = max((len(form) for form in index), default=0)
        usage: Counter[int] = Counter()
        for word, count in counts.items():
            head = lower(word[:longest])
            for length in range(len(head), 0, -1):
                found = index.get(head[:length])
                if found is not None:
                    usage[found] += count
                    break
        chosen = [position for position, _ in sorted(usage.items(), key=lambda item: (-item[1], item[0]))]
        chosen = chosen[:budget]
        taken = set(chosen)
        for position in range(len(lexicon.roots)):
            if len(chosen) >= budget:
                break
            if position not in taken:
                chosen.append(position)
        return chosen

    def _train_fallback(self, residue: Counter[str], budget: int, progress: bool) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
        """Byte-level BPE on the leftover runs: its merged tokens and merges as byte strings."""
        from lexkit.vocab.bpe import BPEConfig, BPETrainer

        table = bytes_to_unicode()
        surfaces: dict[str, int] = {}
        for run, count in residue.items():
            surface = "".join(table[byte] for byte in run.encode("utf-8"))
            surfaces[surface] = surfaces.get(surface, 0) + count
        if budget <= 0 or not surfaces:
            return [], []
        bpe = BPETrainer(BPEConfig(vocab_size=256 + budget, min_frequency=self.config.min_frequency,
                                   pre_tokenizer="none"))
        trained = bpe.train_from_counts(surfaces, progress=progress)
        contents = [token.content for token in trained.tokens]
        merges = [(contents[merge[0]], contents[merge[1]]) for merge in trained.merges]
        return contents, merges

    def _vocabulary(self, roots: list[int], bpe_tokens: list[bytes], bpe_merges: list[tuple[bytes, bytes]], *,
                    counts: Mapping[str, int] | None = None, stats: Counter[str] | None = None) -> Vocabulary:
        lexicon, config = self.lexicon, self.config
        tokens: list[Token] = []
        ids: dict[bytes, int] = {}

        def add(content: bytes, kind: TokenKind = TokenKind.NORMAL) -> int:
            if kind == TokenKind.NORMAL and content in ids:
                return ids[content]
            token_id = len(tokens)
            tokens.append(Token(token_id, content, kind))
            if kind == TokenKind.NORMAL:
                ids[content] = token_id
            return token_id

        control = {name: add(text.encode(), _KINDS.get(name, TokenKind.NORMAL)) for name, text in CONTROL_TOKENS}
        root_start = len(tokens)
        variants: dict[str, list[str]] = {}
        harmony: dict[str, str] = {}
        for position in roots:
            root = lexicon.roots[position]
            token_id = add(root.forms[0].encode())
            assert token_id == len(tokens) - 1, "lexicon roots are distinct"
            if len(root.forms) > 1:
                variants[str(token_id)] = list(root.forms)
            if root.harmony:
                harmony[str(token_id)] = root.harmony
        root_end = len(tokens)
        affixes: dict[str, list[str]] = {}
        for affix in lexicon.affixes:
            token_id = add((AFFIX_PREFIX + affix.name).encode())
            assert str(token_id) not in affixes, "affix class names are unique (checked by the lexicon loader)"
            affixes[str(token_id)] = list(affix.forms)
        bpe_start = len(tokens)
        for byte in range(256):
            add(bytes([byte]))
        for content in bpe_tokens:
            add(content)
        merges = tuple((ids[left], ids[right]) for left, right in bpe_merges)
        metadata: dict[str, Any] = {
            "trainer": self.name, "config": asdict(config), "encoder": self.encoder, "only_encoders": [self.encoder],
            "lexkit_version": __version__,
            "lexicon": {"path": Path(config.lexicon).name, "language": lexicon.language, "source": lexicon.source,
                        "roots": len(lexicon.roots), "affix_classes": len(lexicon.affixes)},
            "morph": {
                "phonology": lexicon.phonology.to_json(), "control": control, "roots": [root_start, root_end],
                "affixes": affixes, "root_variants": variants, "root_harmony": harmony,
                "bpe": [bpe_start, len(tokens)], "roots_only_at_word_start": config.roots_only_at_word_start,
            },
            "model_size": len(tokens), "encoder_size": len(tokens), "num_merges": len(merges),
        }
        if counts is not None:
            metadata["counts_sha256"] = counts_sha256(counts)
            metadata["pre_tokens"] = len(counts)
        if stats is not None:
            metadata["training_words"] = stats["words"]
            metadata["training_fallback_words"] = stats["fallback_words"]
        return Vocabulary(tokens=tuple(tokens), merges=merges, metadata=metadata,
                          pre_tokenizer=WORD_SPLIT)
