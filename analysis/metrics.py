"""Intrinsic token-efficiency metrics ("Greed is All You Need", Uzan et al. 2024).

`measure_corpus` streams a corpus through a tokenizer once and keeps only per-id counts and totals, so memory stays
flat however large the corpus is. The metric functions below work on those counts:

- bytes, characters per token; fertility (tokens per whitespace-run word, and the benchmark's ``split(" ")``);
- Rényi efficiency (Zouhar et al. 2023) with alpha = 2.5 over the observed token types;
- vocabulary utilisation, token-length and rank-frequency distributions with a Zipf fit;
- frequency imbalance (Gini, the occurrences taken by the rarer half of the tokens in use, scaffold share);
- digit grouping on a probe set, % fewer tokens between tokenizers, morphological boundary F1 against a gold file.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lexkit.encoders import HFEncoder
from lexkit.errors import CorpusError
from lexkit.stream import Joining, code_points, joinable, text_runs
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import TokenKind

__all__ = [
    "RENYI_ALPHA", "BATCH_TEXTS", "BATCH_CHARS", "CorpusCounts", "TextBatch", "TextTotals", "measure_corpus", "measure_corpora", "renyi_efficiency", "gini", "share_below_median",
    "rarer_half_share", "ZipfFit", "rank_frequency_line", "zipf_fit", "model_token_ids", "CorpusMetrics",
    "summarize", "DIGIT_PROBES", "digit_grouping", "percent_fewer_tokens", "morph_boundary_f1",
    "morph_score", "segmentation_difference", "encoder_segments", "segment_differences",
]

RENYI_ALPHA = 2.5
#: Texts per encode call in `measure_corpora`, and the characters after which a batch ends sooner.
#: Measured (GPT-2 + o200k, corpus_10M.txt, one process, identical counts): 4,096-line batches took 2.3-2.6 s;
#: batches of 2 Mi characters 1.2-1.4 s, 4 Mi 1.4-1.5 s, 8 Mi 1.8-1.9 s. fastokens keeps one word cache per
#: thread for one tokenizer at a time, so every switch between tokenizers refills it: larger batches switch
#: less, until numpy's passes over a batch leave the CPU caches.
BATCH_TEXTS = 1 << 16
BATCH_CHARS = 1 << 21


@dataclass
class CorpusCounts:
    """Totals and per-id token counts of one tokenizer over one corpus (the streaming state)."""

    vocab_size: int
    texts: int = 0
    tokens: int = 0
    bytes: int = 0
    characters: int = 0
    words: int = 0
    words_greed: int = 0  # line.split(" ") per line, as the Greed benchmark counts (empty strings included)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.counts.size == 0:
            self.counts = np.zeros(self.vocab_size, dtype=np.int64)

    def add(self, batch: TextTotals, ids: np.ndarray) -> None:
        """Fold one batch's text totals and its token ids (all texts' ids in one array) into the counts."""
        self.texts += batch.texts
        self.bytes += batch.bytes
        self.characters += batch.characters
        self.words += batch.words
        self.words_greed += batch.words_greed
        self.tokens += int(ids.size)
        if ids.size:
            self.counts += np.bincount(ids, minlength=self.vocab_size)[: self.vocab_size]

    def merge(self, other: CorpusCounts) -> None:
        """Add the counts of another part of the corpus (integer sums: exact in any order)."""
        self.texts += other.texts
        self.tokens += other.tokens
        self.bytes += other.bytes
        self.characters += other.characters
        self.words += other.words
        self.words_greed += other.words_greed
        self.counts += other.counts


@dataclass(frozen=True)
class TextTotals:
    """The tokenizer-independent totals of one batch of texts (counted once, whatever the number of tokenizers)."""

    texts: int
    bytes: int
    characters: int
    words: int
    words_greed: int

    @classmethod
    def of(cls, texts: Sequence[str]) -> TextTotals:
        """Count ``texts``: bytes, characters, whitespace-run words and the Greed benchmark's words."""
        return cls.of_batch(TextBatch.of(texts))

    @classmethod
    def of_batch(cls, batch: TextBatch) -> TextTotals:
        """`of` on a prepared batch: numpy passes over its code points, no Python work per text or per word.

        Words are ``str.split()``'s (runs of ``str.isspace`` characters between them); the Greed words of a
        non-blank text are ``len(line.split(" "))`` summed over its ``str.splitlines()``, i.e. its spaces plus
        its lines, where the lines are its line breaks (``\r\n`` once) plus one unless it ends in a break.
        """
        index = _class_index(batch.codes)
        space = _IS_SPACE[index]
        solid = ~space
        starts, lengths = batch.offsets[:-1], np.diff(batch.offsets)
        words = int(np.count_nonzero(solid[1:] & space[:-1])) + int(solid[:1].sum())
        # a text that begins right after a text ending in a non-space character starts a word the join hid
        later = starts[(lengths > 0) & (starts > 0)]
        words += int(np.count_nonzero(solid[later] & solid[later - 1]))
        greed = 0
        used = starts[lengths > 0]
        if used.size:
            values = np.add.reduceat(_GREED_WEIGHT[index], used, dtype=np.int64)  # spaces plus line breaks
            codes = batch.codes
            crlf = np.flatnonzero((codes[1:] == 10) & (codes[:-1] == 13)) + 1  # "\r\n" is one break, not two
            owner = np.searchsorted(used, crlf, side="right") - 1
            inside = used[owner] != crlf  # "\r" ending one text and "\n" starting the next are two breaks
            values -= np.bincount(owner[inside], minlength=used.size)
            non_blank = np.add.reduceat(solid, used, dtype=np.int64) > 0
            ends_in_break = (_CLASSES[index[batch.offsets[1:][lengths > 0] - 1]] & _BREAK) != 0
            greed = int(values[non_blank].sum() + np.count_nonzero(non_blank & ~ends_in_break))
        joined = batch.joined
        size = len(joined) if joined.isascii() else len(joined.encode("utf-8", "surrogatepass"))
        return cls(len(batch.texts), size, len(joined), words, greed)


@dataclass(frozen=True)
class TextBatch:
    """A batch of texts joined into one string, with its code points and where each text starts."""

    texts: Sequence[str]
    joined: str
    codes: np.ndarray  # one value per character of ``joined`` (uint8 when it is ASCII, else uint32)
    offsets: np.ndarray  # len(texts) + 1 character offsets: text i is joined[offsets[i]:offsets[i + 1]]

    @classmethod
    def of(cls, texts: Sequence[str]) -> TextBatch:
        """Join ``texts`` (C-level: one join, one encode, one ``map(len)``)."""
        joined = "".join(texts)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
        return cls(texts, joined, code_points(joined), offsets)


# Character classes of str.isspace and str.splitlines; every such character is below _CLASS_LIMIT (a test checks).
_WS, _SPACE, _BREAK = 1, 2, 4
_CLASS_LIMIT = 0x3001


def _class_table() -> np.ndarray:
    table = np.zeros(_CLASS_LIMIT + 1, dtype=np.uint8)  # the last entry stands for every code point above
    for code in range(_CLASS_LIMIT):
        char = chr(code)
        table[code] = ((_WS if char.isspace() else 0) | (_SPACE if char == " " else 0)
                       | (_BREAK if len(f"a{char}b".splitlines()) > 1 else 0))
    return table


_CLASSES = _class_table()
_IS_SPACE = (_CLASSES & _WS) != 0
_GREED_WEIGHT = ((_CLASSES & _SPACE) != 0).astype(np.uint8) + ((_CLASSES & _BREAK) != 0)


def _class_index(codes: np.ndarray) -> np.ndarray:
    """Indices into the class tables: the code points, every one above the table's range at its last entry."""
    return codes if codes.dtype == np.uint8 else np.minimum(codes, _CLASS_LIMIT)


def measure_corpus(tokenizer: Tokenizer, texts: Iterable[str], *, batch_size: int = BATCH_TEXTS,
                   progress: Callable[[int], Any] | None = None) -> CorpusCounts:
    """Encode ``texts`` (streamed, in batches) and return the counts.

    Args:
        tokenizer: any lexkit tokenizer (HF, tiktoken and sentencepiece files load into one).
        texts: the corpus, one text item at a time (lines or documents).
        batch_size: texts per ``encode_batch_flat`` call.
        progress: called with the number of bytes of each finished batch.

    Raises:
        CorpusError: the corpus yielded no text.
    """
    return measure_corpora({"": tokenizer}, texts, batch_size=batch_size, progress=progress)[""]


def measure_corpora(tokenizers: Mapping[str, Tokenizer], texts: Iterable[str], *, batch_size: int = BATCH_TEXTS,
                    progress: Callable[[int], Any] | None = None) -> dict[str, CorpusCounts]:
    """`measure_corpus` for several tokenizers in one pass: each batch is read and counted once (numpy over its
    code points), then encoded by every tokenizer through the encode engine's flat form
    (`Tokenizer.encode_batch_flat`: no Python int per token). Where `lexkit.stream.joinable` allows, the texts are encoded
    as joined runs (`lexkit.stream.text_runs`): the same bag of ids, without the engine's cost per text.

    Args:
        tokenizers: name -> tokenizer.
        texts: the corpus, one text item at a time.
        batch_size: texts per encode call at most (`BATCH_TEXTS`); a batch also ends once it holds
            `BATCH_CHARS` characters, so a corpus of long documents stays in bounded memory.
        progress: called with the number of bytes of each finished batch.

    Raises:
        CorpusError: the corpus yielded no text.
    """
    counts = {name: CorpusCounts(vocab_size=len(tok.vocabulary)) for name, tok in tokenizers.items()}
    joining = {name: joinable(tok) for name, tok in tokenizers.items()}
    newline_ids = {name: tok.encode_batch_flat(["\n"], disallowed_special=())[0]
                   for name, tok in tokenizers.items() if joining[name] is not None}
    for texts_batch in _batched(texts, batch_size, BATCH_CHARS):
        batch = TextBatch.of(texts_batch)
        totals = TextTotals.of_batch(batch)
        runs: dict[Joining, tuple[list[str], int]] = {}
        for name, tok in tokenizers.items():
            rule = joining[name]
            if rule is None:
                ids, _ = tok.encode_batch_flat(texts_batch, disallowed_special=())
            else:
                if rule not in runs:
                    runs[rule] = text_runs(texts_batch, batch.codes, batch.offsets, rule)
                pieces, blanks = runs[rule]
                ids, _ = tok.encode_batch_flat(pieces, disallowed_special=())
                if blanks:
                    ids = np.concatenate([ids, np.tile(newline_ids[name], blanks)])
            counts[name].add(totals, ids)
        if progress is not None:
            progress(totals.bytes)
    if not counts or next(iter(counts.values())).texts == 0:
        raise CorpusError("the corpus is empty: no text to measure; check the corpus path")
    return counts


def _batched(texts: Iterable[str], size: int, max_chars: int) -> Iterator[list[str]]:
    """Lists of at most ``size`` texts, each ended early once it holds ``max_chars`` characters.

    Texts are taken in slices of up to 4,096 (C-level ``islice`` and ``map(len)``: no Python work per text), so
    a batch may pass ``max_chars`` by the texts of one slice.
    """
    iterator = iter(texts)
    step = min(size, 4096)
    batch: list[str] = []
    chars = 0
    while chunk := list(itertools.islice(iterator, min(step, size - len(batch)))):
        batch += chunk
        chars += sum(map(len, chunk))
        if len(batch) >= size or chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------------------------
# metrics over counts
def renyi_efficiency(counts: np.ndarray, alpha: float = RENYI_ALPHA, *, k: int | None = None) -> float:
    """Rényi efficiency: H_alpha(p) / log2(K), p the unigram distribution of produced tokens.

    Args:
        counts: occurrences per token id.
        alpha: the Rényi order (2.5 as the literature uses; the scorer package defaults to 3.0).
        k: the normaliser K; default the number of distinct observed token types.

    >>> round(renyi_efficiency(np.array([5, 5, 5, 5])), 6)
    1.0
    """
    observed = counts[counts > 0].astype(np.float64)
    types = k if k is not None else observed.size
    if types <= 1:
        return 0.0
    p = observed / observed.sum()
    entropy = math.log2(float(np.sum(p**alpha))) / (1.0 - alpha)
    return entropy / math.log2(types)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal, towards 1 = concentrated on few).

    >>> gini(np.array([1, 1, 1, 1]))
    0.0
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2 * np.sum(ranks * x) / (n * x.sum())) - (n + 1) / n)


def share_below_median(values: np.ndarray) -> float:
    """Share of entries strictly below the median value."""
    if values.size == 0:
        return 0.0
    return float(np.mean(values < np.median(values)))


def rarer_half_share(counts: np.ndarray) -> float:
    """Share of all occurrences taken by the rarer half of the tokens the text uses (0.5 = perfectly even).

    The vocabulary-wide "share below the median" reads 0 whenever a text leaves half of the vocabulary unused
    (the median count is then 0): a small held-out set on an 8k vocabulary already does. Counting only the
    tokens in use keeps the figure about imbalance, not coverage (that is ``utilisation``).

    >>> rarer_half_share(np.array([0, 0, 1, 1, 2, 6]))
    0.2
    """
    used = np.sort(np.asarray(counts, dtype=np.float64)[np.asarray(counts) > 0])
    if used.size == 0:
        return 0.0
    return float(used[: used.size // 2].sum() / used.sum())


@dataclass(frozen=True)
class ZipfFit:
    """Least-squares fit of log frequency against log rank: f ~ C * rank^-exponent."""

    exponent: float
    r_squared: float


def rank_frequency_line(frequencies: np.ndarray) -> tuple[float, float | None]:
    """Least-squares line of log frequency on log rank: its slope (about -1 for Zipf's law) and R².

    The one Zipf line of lexkit's analyses (`zipf_fit` here, the visual-token n-gram fits of
    `lexkit.analysis.visual_stats`). ``frequencies`` holds at least two positive values, sorted descending; R² is
    None when they are all equal (no variance to explain).

    >>> rank_frequency_line(np.array([12.0, 6.0, 4.0, 3.0]))[0]  # f = 12 / rank
    -1.0
    """
    x = np.log(np.arange(1, len(frequencies) + 1))
    y = np.log(frequencies)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = y - y.mean()
    if not float(total @ total):
        return float(slope), None
    return float(slope), 1.0 - float(residual @ residual) / float(total @ total)


def zipf_fit(counts: np.ndarray) -> ZipfFit:
    """Fit Zipf's law to the non-zero counts."""
    freqs = np.sort(counts[counts > 0])[::-1].astype(np.float64)
    if freqs.size < 2:
        return ZipfFit(0.0, 0.0)
    slope, r2 = rank_frequency_line(freqs)
    return ZipfFit(-slope, 0.0 if r2 is None else r2)


def model_token_ids(tokenizer: Tokenizer) -> np.ndarray:
    """Ids that count as vocabulary for imbalance figures: normal tokens (scaffolds included)."""
    return np.array([t.id for t in tokenizer.vocabulary.tokens if t.kind == TokenKind.NORMAL], dtype=np.int64)


@dataclass(frozen=True)
class CorpusMetrics:
    """The figures of one (tokenizer, corpus) pair."""

    tokenizer: str
    corpus: str
    vocab_size: int
    tokens: int
    bytes: int
    characters: int
    words: int
    bytes_per_token: float
    chars_per_token: float
    fertility: float
    fertility_greed: float
    renyi_efficiency: float
    utilisation: float
    gini: float
    rarer_half_share: float
    scaffold_share: float
    zipf_exponent: float
    zipf_r_squared: float
    mean_token_bytes: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats rounded to 4 places)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


def summarize(tokenizer_name: str, corpus_name: str, tokenizer: Tokenizer, counts: CorpusCounts) -> CorpusMetrics:
    """Turn streaming counts into the metric set."""
    normal = model_token_ids(tokenizer)
    vocabulary_counts = counts.counts[normal] if normal.size else counts.counts
    scaffold_ids = [t.id for t in tokenizer.vocabulary.tokens if t.scaffold]
    lengths = np.array([len(t.content) for t in tokenizer.vocabulary.tokens], dtype=np.float64)
    zipf = zipf_fit(counts.counts)
    tokens = max(counts.tokens, 1)
    return CorpusMetrics(
        tokenizer=tokenizer_name, corpus=corpus_name, vocab_size=tokenizer.vocabulary.model_size,
        tokens=counts.tokens, bytes=counts.bytes, characters=counts.characters, words=counts.words,
        bytes_per_token=counts.bytes / tokens, chars_per_token=counts.characters / tokens,
        fertility=counts.tokens / max(counts.words, 1), fertility_greed=counts.tokens / max(counts.words_greed, 1),
        renyi_efficiency=renyi_efficiency(counts.counts),
        utilisation=float(np.count_nonzero(counts.counts)) / max(tokenizer.vocabulary.model_size, 1),
        gini=gini(vocabulary_counts), rarer_half_share=rarer_half_share(vocabulary_counts),
        scaffold_share=len(scaffold_ids) / max(len(tokenizer.vocabulary), 1),
        zipf_exponent=zipf.exponent, zipf_r_squared=zipf.r_squared,
        mean_token_bytes=float(lengths @ counts.counts) / tokens,
    )


# ---------------------------------------------------------------------------------------------------------------
# probes
DIGIT_PROBES = tuple(str(n) for n in (7, 42, 365, 1234, 12345, 123456, 1234567, 31415926, 2024, 1000000, 99999))


def digit_grouping(tokenizer: Tokenizer, probes: Sequence[str] = DIGIT_PROBES) -> dict[str, Any]:
    """How numbers split: ``single`` digits, ``l2r`` (1-3 digit groups from the left), ``r2l`` (from the right),
    ``other``; with each probe's pieces.
    """
    kinds: dict[str, int] = {"single": 0, "l2r": 0, "r2l": 0, "other": 0}
    pieces: dict[str, list[str]] = {}
    for number in probes:
        parts = [tokenizer.token_to_bytes(i).decode("utf-8", "replace").strip() for i in tokenizer.encode(number)]
        parts = [p for p in parts if p]
        pieces[number] = parts
        lengths = [len(p) for p in parts]
        if all(n == 1 for n in lengths) and len(number) > 1:
            kinds["single"] += 1
        elif lengths == _groups(len(number), from_left=True):
            kinds["l2r"] += 1
        elif lengths == _groups(len(number), from_left=False):
            kinds["r2l"] += 1
        else:
            kinds["other"] += 1
    return {"kinds": kinds, "pieces": pieces}


def _groups(n: int, *, from_left: bool) -> list[int]:
    full, rest = divmod(n, 3)
    if from_left:
        return [3] * full + ([rest] if rest else [])
    return ([rest] if rest else []) + [3] * full


def percent_fewer_tokens(tokens: int, reference_tokens: int) -> float:
    """How many % fewer tokens than the reference (negative: more)."""
    return 100.0 * (1.0 - tokens / reference_tokens) if reference_tokens else 0.0


def morph_boundary_f1(tokenizer: Tokenizer, gold_path: Path) -> dict[str, float | int]:
    """Boundary F1 against a gold segmentation file (``word<TAB>morph morph ...`` per line).

    Each word is encoded with a leading space (the word-start marker of byte-level and metaspace vocabularies);
    predicted boundaries are the inner character offsets between its pieces; words that are one vocabulary token
    are skipped, as in the Greed benchmark. Micro F1 = tp / (tp + (fp + fn) / 2).
    """
    tp = fp = fn = used = 0
    for number, line in enumerate(gold_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        word, _, morphs_text = line.partition("\t")
        morphs = morphs_text.split()
        if not morphs or "".join(morphs) != word:
            raise CorpusError(
                f"{gold_path}: line {number}: morphs {morphs} do not spell the word {word!r}; "
                "use `word<TAB>morph morph ...` with morphs that concatenate to the word"
            )
        ids = tokenizer.encode(" " + word, disallowed_special=())
        if len(ids) == 1:
            continue
        pieces = _pieces(tokenizer, ids)
        offsets, position = set(), 0
        for piece in pieces[:-1]:
            position += len(piece)
            offsets.add(position - 1)  # minus the leading space
        gold, position = set(), 0
        for morph in morphs[:-1]:
            position += len(morph)
            gold.add(position)
        offsets.discard(0)
        tp += len(offsets & gold)
        fp += len(offsets - gold)
        fn += len(gold - offsets)
        used += 1
    f1 = tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn else 0.0
    return {"f1": round(f1, 4), "words": used, "tp": tp, "fp": fp, "fn": fn}


def _pieces(tokenizer: Tokenizer, ids: Sequence[int]) -> list[str]:
    """The text of each token, without WordPiece's continuation prefix (``##``) on non-initial pieces."""
    prefix = b""
    if tokenizer.vocabulary.model == "wordpiece":
        prefix = str(tokenizer.vocabulary.model_options.get("continuing_subword_prefix", "##")).encode()
    out = []
    for position, token_id in enumerate(ids):
        content = tokenizer.token_to_bytes(token_id)
        if prefix and position and content.startswith(prefix):
            content = content[len(prefix):]
        out.append(content.decode("utf-8", "replace"))
    return out


def morph_score(tokenizer: Tokenizer, gold: Mapping[str, Sequence[str]]) -> dict[str, float | int]:
    """MorphScore (Arnett & Bergen 2025): the share of words with a token boundary at their gold morph boundary.

    Each word is encoded with a leading space (as it appears inside text); words that are one token are left
    out, as in MorphScore. A word with several gold boundaries counts as aligned when every one of them is a
    token boundary.

    Args:
        tokenizer: any lexkit tokenizer.
        gold: word -> its morphs (they must concatenate to the word).

    Raises:
        CorpusError: some word's morphs do not spell it.

    >>> from lexkit.vocabulary import Vocabulary
    >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b" ", b"w"), (b" w", b"a"), (b"l", b"k")],
    ...     pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> morph_score(Tokenizer(v), {"walks": ["walk", "s"], "walked": ["walk", "ed"]})["score"]  # wa|lk|s, wa|lk|e|d
    1.0
    """
    aligned = used = single = 0
    for word, morphs in gold.items():
        if "".join(morphs) != word:
            raise CorpusError(f"gold morphs {list(morphs)} do not spell the word {word!r}; fix the gold set")
        ids = tokenizer.encode(" " + word, disallowed_special=())
        if len(ids) == 1:
            single += 1
            continue
        predicted, position = set(), -1  # minus the leading space
        for piece in _pieces(tokenizer, ids)[:-1]:
            position += len(piece)
            predicted.add(position)
        boundaries = set(itertools.accumulate(len(m) for m in morphs[:-1]))
        aligned += boundaries <= predicted
        used += 1
    return {"score": round(aligned / used, 4) if used else 0.0, "words": used, "single_token_words": single}


def segmentation_difference(tokenizer: Tokenizer, encoders: Sequence[str], words: Sequence[str], *,
                            built: Mapping[str, Tokenizer] | None = None) -> dict[str, dict[str, float]]:
    """Inference-method comparison on one vocabulary: tokens per word under each encoder, and the share of words
    segmented differently from the first encoder.

    Args:
        tokenizer: the tokenizer whose vocabulary is read (it serves its own encoder's name).
        encoders: encoder names; the first is the reference.
        words: the words (each encoded with a leading space).
        built: tokenizers already built on this vocabulary, by encoder name (building an engine is the cost).
    """
    return segment_differences({name: encoder_segments(tokenizer, name, words, built=built) for name in encoders})


def encoder_segments(tokenizer: Tokenizer, encoder: str, words: Sequence[str], *,
                     built: Mapping[str, Tokenizer] | None = None) -> list[list[int]]:
    """The ids of each word (with a leading space) under ``encoder`` on ``tokenizer``'s vocabulary.

    Args:
        tokenizer: the tokenizer whose vocabulary is read (it serves its own encoder's name).
        encoder: the encoder name.
        words: the words.
        built: tokenizers already built on this vocabulary, by encoder name (building an engine is the cost).
    """
    ready = {tokenizer.encoder_name: tokenizer, **(built or {})}
    other = ready.get(encoder) or Tokenizer(tokenizer.vocabulary, encoder=encoder)
    texts = [" " + w for w in words]
    if other is not tokenizer and _runs_its_tokenizer_json(other):
        return [e.ids for e in other.encoder.backend.encode_batch(texts, add_special_tokens=False)]
    return other.encode_batch(texts, disallowed_special=())


def prepare_segments(tokenizer: Tokenizer, encoder: str, *, built: Mapping[str, Tokenizer]) -> None:
    """Build ahead what `encoder_segments` runs for ``encoder`` (a tokenizer of ``built``): the HF engine of its
    own ``tokenizer.json`` where it runs one, so that cost can be paid beside other work (forked workers inherit
    it)."""
    other = built.get(encoder)
    if other is not None and other is not tokenizer and _runs_its_tokenizer_json(other):
        assert isinstance(other.encoder, HFEncoder)
        other.encoder.backend  # noqa: B018 - built on first use


def segment_differences(segments: Mapping[str, Sequence[Sequence[int]]]) -> dict[str, dict[str, float]]:
    """`segmentation_difference` from each encoder's segments of the same words (`encoder_segments`), the
    first encoder the reference."""
    reference = next(iter(segments))
    base = segments[reference]
    words = max(len(base), 1)
    return {name: {"tokens_per_word": sum(map(len, segs)) / words,
                   "differs_from_" + reference: sum(1 for a, b in zip(base, segs) if a != b) / words}
            for name, segs in segments.items()}


def _runs_its_tokenizer_json(tokenizer: Tokenizer) -> bool:
    """True when the encoder's ids are its ``tokenizer.json``'s ids under HF, with no step after the engine.

    Why: such an encoder's fast engine is verified to give HF's ids, and building it took 7-20 s for o200k's
    ``long-first`` (fastokens parses 200k merges, then the probe set runs on both engines), far more than a few
    thousand probe words need; the HF reference (the engine's fallback, built first anyway) encodes them.
    """
    encoder = type(tokenizer.encoder)
    return (issubclass(encoder, HFEncoder) and encoder._finish_flat is HFEncoder._finish_flat
            and encoder.encode_ordinary_batch is HFEncoder.encode_ordinary_batch)
