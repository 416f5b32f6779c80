"""ByteSpan: subword vocabularies from spans of predictable bytes (Goriely et al., arXiv 2506.18639).

A byte LM gives every byte of the corpus a signal: its surprisal or the entropy before it (`lexkit.vocab.byte_lm`).
A byte whose signal is low is *grouped* with the byte before it; a span is a non-grouped "spike" byte followed
by its run of grouped bytes. The most frequent spans become the vocabulary, and encoding is WordPiece-style
greedy longest prefix with ``##`` continuations (encoder ``longest-prefix``), over GPT-2 byte-level pre-tokens.

Grouping constraints (ByteSpan, arXiv 2506.18639; byte i joins byte i-1 when ...):

- ``monotonic``: ``s_i < s_{i-1}``;
- ``combined`` (default): ``s_i < s_{i-1}`` or ``s_i < theta``, theta the ``percentile``-th percentile (30) of the
  non-zero signals;
- ``global``: ``s_i < theta`` with theta raised until the spans seen at least ``global_min_count`` (20) times
  fill the vocabulary. lexkit raises theta over 1/1024 quantiles of the signal (a coarse scan for the first
  crossing, then bisection) rather than the reference code's byte-by-byte sweep; if no theta fills the
  vocabulary (small corpora), it takes the theta with the most frequent spans and fills the rest with BPE.

In every constraint a byte never joins across a pre-token boundary, and a space that starts a pre-token always
joins the byte after it (so word-initial units look like `` word``). Spans of one byte are not recorded.

Reaching the vocabulary size (5.3): ``frequency`` adds spans by descending count and, if they run out, continues
with BPE; ``seeding`` adds the top spans up to ``seed_proportion`` of the vocabulary, pre-merges exactly those
spans where they were found, and fills the rest with BPE (the shared merge engine, never across pre-tokens,
continuation tokens kept in ``##`` form). ``seed_proportion=0`` is BPE with WordPiece inference ("BPEWP").

Differences from the authors' code, on purpose: spans come straight from the per-byte grouping predicate (their
start/end pairing mis-pairs when a text starts with a grouped byte); every ``#`` is its own pre-token, because HF's
WordPiece looks the first piece of a word up as a raw string, so a word starting with ``##`` would match a
continuation token and lose its ``##`` on decoding; the corpus-trained n-gram LM is cross-fitted (trained on one half
of the text blocks, scoring the other) so its signals are not those of text it memorised. ``include_left_byte`` and
the multilingual ``balanced`` selection are not offered.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from lexkit._version import __version__
from lexkit.errors import VocabularyError
from lexkit.vocab.byte_lm import ByteLM, ByteSignals, checked_scores
from lexkit.vocabulary import AddedTokenOptions, Token, TokenKind, Vocabulary

__all__ = ["ByteSpanConfig", "ByteSpanTrainer", "PrecomputedSignals", "initial_contents", "span_boundaries"]

Signal = Literal["entropy", "surprisal"]
Constraint = Literal["combined", "monotonic", "global"]
Fill = Literal["frequency", "seeding"]
NormalizerName = Literal["none", "nfkc", "lowercase", "nfkc-lowercase"]

PREFIX = b"##"
UNK = "<|unk|>"
DEFAULT_SPECIALS = ("<|padding|>", "<|endoftext|>")
WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
MAX_INPUT_CHARS_PER_WORD = 100  # HF WordPiece's default: longer pre-tokens encode as <|unk|>
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ByteSpanConfig:
    """Settings of a ByteSpan run (ByteSpan, arXiv 2506.18639).

    Args:
        vocab_size: target number of tokens, specials, ``<|unk|>`` and the ~770 initial byte tokens included.
        signal: ``"entropy"`` (before each byte) or ``"surprisal"`` (of each byte).
        constraint: ``"combined"``, ``"monotonic"`` or ``"global"`` (module docstring).
        fill: ``"frequency"`` (spans by count, then BPE) or ``"seeding"`` (top spans, then BPE).
        seed_proportion: share of the vocabulary taken from spans under ``fill="seeding"``.
        percentile: theta of the combined constraint, as a percentile of the non-zero signals.
        byte_lm: ``"ngram"`` (trained on the corpus), ``"transformer"`` (a small byte transformer trained on the
            corpus), or the path of a saved byte LM (`lexkit.vocab.byte_lm.load_byte_lm`).
        ngram_order: n of the n-gram LM.
        cross_fit: train corpus-trained LMs on one half of the text blocks and score the other half (and back).
        lm_steps: training steps of the ``"transformer"`` byte LM.
        min_frequency: spans and BPE pairs rarer than this are not added.
        global_min_count: the count a span needs to enter the vocabulary under the global constraint.
        special_tokens: special tokens, given ids 0.. in this order.
        pre_tokenizer: byte-level split pattern.
        normalizer: text normalization before pre-tokenization.
        block_bytes: text items are joined into blocks of about this many bytes, the byte LM's context unit.
        max_bytes: use only the first this-many bytes of the corpus (None: all of it).
        device: where a torch byte LM runs: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        save_byte_lm: folder to save the byte LM trained here (``"ngram"`` or ``"transformer"``), for reuse as
            ``byte_lm=PATH``; with cross-fitting the saved n-gram LM is one trained on all the text.
    """

    vocab_size: int
    signal: Signal = "entropy"
    constraint: Constraint = "combined"
    fill: Fill = "frequency"
    seed_proportion: float = 0.5
    percentile: float = 30.0
    byte_lm: str = "ngram"
    ngram_order: int = 5
    cross_fit: bool = True
    lm_steps: int = 1000
    min_frequency: int = 2
    global_min_count: int = 20
    special_tokens: tuple[str, ...] = DEFAULT_SPECIALS
    pre_tokenizer: Literal["gpt2", "cl100k", "o200k"] = "gpt2"
    normalizer: NormalizerName = "none"
    block_bytes: int = 2048
    max_bytes: int | None = None
    device: str = "cpu"
    save_byte_lm: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "special_tokens", tuple(self.special_tokens))
        choices = {"signal": ("entropy", "surprisal"), "constraint": ("combined", "monotonic", "global"),
                   "fill": ("frequency", "seeding")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise VocabularyError(
                    f"ByteSpan {name} {getattr(self, name)!r} is not one of {', '.join(allowed)}; pass one of those"
                )
        floor = len(initial_contents(self.special_tokens))
        if self.vocab_size < floor:
            raise VocabularyError(
                f"vocab size {self.vocab_size} is below ByteSpan's initial vocabulary of {floor} tokens (specials, "
                f"{UNK}, 256 bytes, space+byte and ##byte variants); pass --vocab-size {floor} or more"
            )
        if len(set(self.special_tokens)) != len(self.special_tokens) or "" in self.special_tokens:
            raise VocabularyError(f"special tokens must be distinct and non-empty; got {self.special_tokens}")
        if not 0.0 <= self.seed_proportion <= 1.0:
            raise VocabularyError(f"seed_proportion must be within [0, 1]; got {self.seed_proportion}")
        if not 0.0 < self.percentile < 100.0:
            raise VocabularyError(f"percentile must be within (0, 100); got {self.percentile}")
        for name in ("min_frequency", "global_min_count", "block_bytes", "lm_steps", "ngram_order"):
            if getattr(self, name) < 1:
                raise VocabularyError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise VocabularyError(f"max_bytes must be >= 1 or None; got {self.max_bytes}")

    def components(self) -> dict[str, Any]:
        """The HF component JSON: byte-level pre-tokenizer; decoder = WordPiece continuations + ByteLevel."""
        from lexkit import components as c
        from lexkit.vocab.bpe import BPEConfig

        components = BPEConfig(vocab_size=256, pre_tokenizer=self.pre_tokenizer,
                               normalizer=self.normalizer).components()
        # subtle: HF's WordPiece looks a word's first piece up as a raw string, so a pre-token starting with "##"
        # would match a continuation token and decode without its "##". Every "#" is its own pre-token first.
        components["pre_tokenizer"] = c.sequence([
            {"type": "Split", "pattern": {"String": "#"}, "behavior": "Isolated", "invert": False},
            components["pre_tokenizer"],
        ])
        # HF's WordPiece decoder strips "##" and puts a space before other pieces; byte-level pieces carry their
        # own spaces (as "Ġ"), so the inserted ones are removed before the ByteLevel decoder maps bytes back.
        components["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "WordPiece", "prefix": PREFIX.decode(), "cleanup": False},
            {"type": "Replace", "pattern": {"String": " "}, "content": ""},
            components["decoder"],
        ]}
        return components


def initial_contents(special_tokens: Sequence[str] = DEFAULT_SPECIALS) -> list[bytes]:
    """The initial vocabulary's contents in id order: specials, ``<|unk|>``, 256 bytes, space+byte, ``##``+byte.

    >>> len(initial_contents())
    765
    """
    contents = [s.encode("utf-8") for s in special_tokens] + [UNK.encode()]
    contents += [bytes([b]) for b in range(256)]
    contents += [b" " + bytes([b]) for b in range(256) if b not in WHITESPACE]
    contents += [PREFIX + bytes([b]) for b in range(256)]
    return contents


class PrecomputedSignals:
    """A `ByteLM` that returns signals computed elsewhere, looked up by the exact bytes of each text.

    Lets CPU-only users train from signal arrays extracted on another machine: pass one `ByteSignals` per text
    item (aligned with the item's normalized UTF-8 bytes) and set ``block_bytes=1`` so items are not joined.
    """

    name = "precomputed"

    def __init__(self, texts: Sequence[bytes], signals: Sequence[ByteSignals]) -> None:
        self._signals = dict(zip(texts, signals))

    def score(self, texts: Sequence[bytes]) -> list[ByteSignals]:
        return [self._signals.get(text, ByteSignals(np.empty(0), np.empty(0))) for text in texts]


@dataclass
class _Stream:
    """The corpus as one byte array with pre-token starts and the LM blocks it was cut into."""

    data: np.ndarray  # (N,) uint8
    starts: np.ndarray  # (N,) bool: byte starts a pre-token
    blocks: list[bytes]


def _read_stream(texts: Iterable[str], components: Mapping[str, Any], *, block_bytes: int, max_bytes: int | None,
                 progress: bool) -> _Stream:
    """Normalize and pre-tokenize every text item; join items into LM blocks of about ``block_bytes`` bytes."""
    from lexkit.components import build_pipeline

    pipeline = build_pipeline(components["normalizer"], components["pre_tokenizer"])
    blocks: list[bytes] = []
    piece_lengths: list[int] = []
    pending: list[bytes] = []
    pending_size = total = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max_bytes, desc="pre-tokenizing", unit="B", unit_scale=True)
    for text in texts:
        # The pieces before ByteLevel's byte-to-unicode map (that map is one character per byte, so it changes
        # no boundary); skipping it saves a third of the reading time.
        encoded = [piece.encode("utf-8") for piece in pipeline._raw(text)]
        if not encoded:
            continue
        content = b"".join(encoded)
        piece_lengths += map(len, encoded)
        pending.append(content)
        pending_size += len(content)
        total += len(content)
        if bar is not None:
            bar.update(len(content))
        if pending_size >= block_bytes:
            blocks.append(b"".join(pending))
            pending.clear()
            pending_size = 0
        if max_bytes is not None and total >= max_bytes:
            break
    if pending:
        blocks.append(b"".join(pending))
    if bar is not None:
        bar.close()
    if not blocks:
        from lexkit.errors import CorpusError

        raise CorpusError("the corpus has no text to train ByteSpan on; check the corpus path")
    data = np.frombuffer(b"".join(blocks), dtype=np.uint8)
    starts = np.zeros(data.size, dtype=bool)
    starts[np.cumsum(np.asarray(piece_lengths[:-1], dtype=np.int64))] = True
    starts[0] = True
    return _Stream(data, starts, blocks)


def span_boundaries(signal: np.ndarray, starts: np.ndarray, data: np.ndarray, *, constraint: Constraint,
                    theta: float) -> np.ndarray:
    """Which bytes start a span (the complement of ``grouped``), for one constraint.

    Args:
        signal: (N,) per-byte signal.
        starts: (N,) True where a pre-token starts (also at every text start).
        data: (N,) the bytes.
        constraint: ``"combined"``, ``"monotonic"`` or ``"global"``.
        theta: the threshold of ``combined`` and ``global`` (ignored by ``monotonic``).

    Returns:
        (N,) bool, True where a new span starts.

    >>> s = np.array([3.0, 1.0, 0.5, 2.0, 0.1])
    >>> span_boundaries(s, np.array([1, 0, 0, 0, 0], bool), np.frombuffer(b"abcde", np.uint8),
    ...                 constraint="monotonic", theta=0.0).astype(int).tolist()
    [1, 0, 0, 1, 0]
    """
    previous = np.empty_like(signal)
    previous[0] = np.inf
    previous[1:] = signal[:-1]
    if constraint == "monotonic":
        grouped = signal < previous
    elif constraint == "combined":
        grouped = (signal < previous) | (signal < theta)
    else:
        grouped = signal < theta
    grouped &= ~starts
    # A space that starts a pre-token joins the byte after it (span rule 3: word-initial units include the space).
    space_start = starts & (data == 0x20)
    grouped[1:] |= space_start[:-1] & ~starts[1:]
    boundary: np.ndarray = ~grouped
    return boundary


@dataclass
class _Spans:
    """Every span of two or more bytes in the stream: its key id, position, and the distinct keys with counts."""

    begin: np.ndarray
    end: np.ndarray
    key_ids: np.ndarray
    keys: list[bytes]
    counts: np.ndarray


def _collect_spans(stream: _Stream, boundary: np.ndarray) -> _Spans:
    """Cut the stream at ``boundary`` and count the spans (``##`` form when not at a pre-token start)."""
    begin = np.flatnonzero(boundary)
    end = np.append(begin[1:], boundary.size)
    keep = end - begin >= 2
    begin, end = begin[keep], end[keep]
    initial = stream.starts[begin]
    buffer = stream.data.tobytes()
    ids: dict[bytes, int] = {}
    key_ids = np.empty(begin.size, dtype=np.int64)
    for number, (a, b, first) in enumerate(zip(begin.tolist(), end.tolist(), initial.tolist())):
        key = buffer[a:b] if first else PREFIX + buffer[a:b]
        key_ids[number] = ids.setdefault(key, len(ids))
    counts = np.bincount(key_ids, minlength=len(ids))
    return _Spans(begin, end, key_ids, list(ids), counts)


def _ranked_spans(spans: _Spans, known: set[bytes], minimum: int) -> list[int]:
    """Key ids of the spans that may enter the vocabulary, most frequent first (ties by bytes)."""
    keys = spans.keys
    usable = [i for i in np.flatnonzero(spans.counts >= minimum).tolist() if keys[i] not in known]
    usable.sort(key=lambda i: (-int(spans.counts[i]), keys[i]))
    return usable


class ByteSpanTrainer:
    """Trains a ByteSpan `Vocabulary` (WordPiece model, encoder ``longest-prefix``) from texts.

    >>> from lexkit.vocab import train
    >>> texts = ["the cat sat on the mat with the other cats"] * 30
    >>> vocabulary = train(texts, algorithm="bytespan", vocab_size=800, progress=False)
    >>> vocabulary.model, vocabulary.metadata["encoder"], len(vocabulary) <= 800
    ('wordpiece', 'longest-prefix', True)
    """

    name = "bytespan"
    encoder = "longest-prefix"

    def __init__(self, config: ByteSpanConfig, *, byte_lm: ByteLM | None = None) -> None:
        self.config = config
        self.byte_lm = byte_lm

    def train_from_texts(self, texts: Iterable[str], *, progress: bool = False) -> Vocabulary:
        """Score the corpus with the byte LM, cut it into spans, and build the vocabulary.

        Args:
            texts: the corpus's text items (lines, documents).
            progress: show progress bars on stderr.

        Raises:
            CorpusError: no text.
            ByteLMError: the byte LM returned unusable signals or could not be loaded.
        """
        config = self.config
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        stream = _read_stream(texts, config.components(), block_bytes=config.block_bytes,
                              max_bytes=config.max_bytes, progress=progress)
        timings["read_seconds"] = time.perf_counter() - clock
        clock = time.perf_counter()
        signals, lm_info = self._signals(stream, progress=progress)
        timings["signal_seconds"] = time.perf_counter() - clock
        clock = time.perf_counter()
        vocabulary = self._build(stream, signals, progress=progress, lm_info=lm_info)
        timings["span_seconds"] = time.perf_counter() - clock
        # Timings are logged, not stored: the same corpus and settings must give byte-identical files.
        logger.info("bytespan stages: %s", {k: round(v, 3) for k, v in timings.items()})
        return vocabulary

    # ----------------------------------------------------------------------------------------------------------
    # signals
    def _signals(self, stream: _Stream, *, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
        """One signal value per byte of the stream, from the configured byte LM."""
        config = self.config
        blocks = stream.blocks
        info: dict[str, Any] = {}
        if self.byte_lm is not None:
            parts = self._score(self.byte_lm, list(range(len(blocks))), blocks, progress)
            info["byte_lm"] = getattr(self.byte_lm, "name", type(self.byte_lm).__name__)
        elif config.byte_lm in ("ngram", "transformer"):
            info["byte_lm"] = config.byte_lm
            folds = [list(range(len(blocks)))]
            # The transformer is too small to memorise its training text, and training it is the expensive part.
            if config.cross_fit and config.byte_lm == "ngram" and len(blocks) >= 2:
                folds = [list(range(0, len(blocks), 2)), list(range(1, len(blocks), 2))]
            info["cross_fit"] = len(folds) == 2
            parts = [np.empty(0)] * len(blocks)
            for fold, scored in enumerate(folds):
                training = [blocks[i] for i in (folds[1 - fold] if len(folds) == 2 else scored)]
                lm = self._train_lm(training, progress)
                if config.byte_lm == "transformer":
                    info.setdefault("transformer", []).append(getattr(lm, "history", {}))
                for i, part in zip(scored, self._score(lm, scored, blocks, progress)):
                    parts[i] = part
            if config.save_byte_lm is not None:
                if len(folds) == 2:
                    lm = self._train_lm(blocks, progress)
                lm.save(config.save_byte_lm)  # type: ignore[attr-defined]
                info["saved_byte_lm"] = config.save_byte_lm
        else:
            from lexkit.vocab.byte_lm import load_byte_lm

            lm = load_byte_lm(config.byte_lm, device=config.device)
            info["byte_lm"] = f"{lm.name}:{config.byte_lm}"
            parts = self._score(lm, list(range(len(blocks))), blocks, progress)
        return np.concatenate(parts), info

    def _train_lm(self, blocks: Sequence[bytes], progress: bool) -> ByteLM:
        config = self.config
        if config.byte_lm == "ngram":
            from lexkit.vocab.byte_lm.ngram import NgramByteLM

            return NgramByteLM.train(blocks, order=config.ngram_order)
        from lexkit.vocab.byte_lm.transformer import TransformerByteLM, TransformerByteLMConfig

        return TransformerByteLM.train(blocks, TransformerByteLMConfig(steps=config.lm_steps), device=config.device,
                                       progress=progress)

    def _score(self, lm: ByteLM, chosen: Sequence[int], blocks: Sequence[bytes], progress: bool) -> list[np.ndarray]:
        """The configured signal of each chosen block, checked (`checked_scores`), in batches."""
        batch = 512 if getattr(lm, "name", "") == "ngram" else 16
        out: list[np.ndarray] = []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(len(blocks[i]) for i in chosen), desc=f"byte LM {lm.name}", unit="B",
                       unit_scale=True)
        for first in range(0, len(chosen), batch):
            texts = [blocks[i] for i in chosen[first:first + batch]]
            for result in checked_scores(lm, texts):
                out.append(getattr(result, self.config.signal))
            if bar is not None:
                bar.update(sum(map(len, texts)))
        if bar is not None:
            bar.close()
        return out

    # ----------------------------------------------------------------------------------------------------------
    # spans and vocabulary
    def _build(self, stream: _Stream, signal: np.ndarray, *, progress: bool = False,
                           lm_info: Mapping[str, Any] | None = None) -> Vocabulary:
        """Build the vocabulary from per-byte signals aligned with the pre-tokenized stream."""
        config = self.config
        assert signal.shape == stream.data.shape
        contents = initial_contents(config.special_tokens)
        known = set(contents)
        nonzero = signal[(signal > 0) & np.isfinite(signal)]
        theta = float(np.percentile(nonzero, config.percentile)) if nonzero.size else 0.0
        if config.constraint == "global":
            theta = self._global_theta(stream, signal, known)
        spans = _collect_spans(
            stream, span_boundaries(signal, stream.starts, stream.data, constraint=config.constraint, theta=theta))
        minimum = config.global_min_count if config.constraint == "global" else config.min_frequency
        ranked = _ranked_spans(spans, known, minimum)
        budget = config.vocab_size
        if config.fill == "seeding":
            budget = max(len(contents), round(config.seed_proportion * config.vocab_size))
        chosen = ranked[:max(budget - len(contents), 0)]
        contents += [spans.keys[i] for i in chosen]
        merges = 0
        if len(contents) < config.vocab_size:
            before = len(contents)
            contents = self._bpe_fill(stream, spans, set(chosen), contents, progress=progress)
            merges = len(contents) - before
        info = {
            "theta": round(theta, 6), "distinct_spans": len(spans.keys), "span_occurrences": int(spans.begin.size),
            "spans_in_vocabulary": len(chosen), "bpe_fill_tokens": merges, "corpus_bytes": int(stream.data.size),
            "signal_mean": round(float(signal.mean()), 6) if signal.size else 0.0, **(lm_info or {}),
        }
        return self._vocabulary(contents, stream, info)

    def _global_theta(self, stream: _Stream, signal: np.ndarray, known: set[bytes]) -> float:
        """The global constraint's threshold, as the reference's rising sweep would stop: the first signal quantile
        (of 1,024) at which the spans seen ``global_min_count`` times fill the vocabulary; when none does, the
        quantile with the most such spans (the rest is filled with BPE).
        """
        config = self.config
        need = config.vocab_size - len(known)
        grid = np.quantile(signal[~stream.starts], np.linspace(0.0, 1.0, 1025)) if signal.size else np.zeros(1)
        grid[-1] += 1e-9  # the top quantile groups every byte

        def frequent(index: int) -> int:
            boundary = span_boundaries(signal, stream.starts, stream.data, constraint="global",
                                       theta=float(grid[index]))
            return len(_ranked_spans(_collect_spans(stream, boundary), known, config.global_min_count))

        # The count of frequent spans rises, then falls as spans grow into whole words: scan a coarse grid for
        # the first crossing, then bisect inside that step.
        coarse = list(range(0, grid.size, 64))
        counts = [frequent(index) for index in coarse]
        crossing = next((number for number, count in enumerate(counts) if count >= need), None)
        if crossing is None:
            return float(grid[coarse[int(np.argmax(counts))]])
        if crossing == 0:
            return float(grid[0])
        low, high = coarse[crossing - 1] + 1, coarse[crossing]
        while low < high:
            middle = (low + high) // 2
            if frequent(middle) >= need:
                high = middle
            else:
                low = middle + 1
        return float(grid[low])

    def _bpe_fill(self, stream: _Stream, spans: _Spans, chosen: set[int], contents: list[bytes], *,
                  progress: bool) -> list[bytes]:
        """Pre-merge the chosen spans where they were found, then BPE (WordPiece form) up to the vocabulary size."""
        from lexkit.vocab._merge_engine import learn_merges

        size = stream.data.size
        selected = np.fromiter((i in chosen for i in spans.key_ids.tolist()), dtype=bool, count=spans.key_ids.size)
        inside = np.zeros(size + 1, dtype=np.int64)
        np.add.at(inside, spans.begin[selected] + 1, 1)
        np.add.at(inside, spans.end[selected], -1)
        unit_start = (np.cumsum(inside[:-1]) <= 0).astype(np.uint8)
        buffer = stream.data.tobytes()
        marks = unit_start.tobytes()
        word_starts = np.flatnonzero(stream.starts).tolist()
        word_ends = word_starts[1:] + [size]
        words: Counter[tuple[bytes, bytes]] = Counter(
            (buffer[a:b], marks[a:b]) for a, b in zip(word_starts, word_ends)
        )
        key_ids = {content: i for i, content in enumerate(contents)}
        sequences: list[list[int]] = []
        counts: list[int] = []
        for (word, mark), count in words.items():
            if len(word) < 2:
                continue  # nothing to merge
            cuts = [i for i, flag in enumerate(mark) if flag] + [len(word)]
            units = [word[cuts[0]:cuts[1]]] + [PREFIX + word[a:b] for a, b in zip(cuts[1:], cuts[2:])]
            sequences.append([key_ids[unit] for unit in units])
            counts.append(count)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.config.vocab_size - len(contents), desc="BPE fill", unit="merge")
        try:
            result = learn_merges(
                sequences, counts, contents, vocab_size=self.config.vocab_size,
                join=lambda left, right: left + right[len(PREFIX):], min_frequency=self.config.min_frequency,
                on_merge=None if bar is None else lambda *_: bar.update(),
            )
        finally:
            if bar is not None:
                bar.close()
        return list(result.keys)

    def _vocabulary(self, contents: list[bytes], stream: _Stream, info: dict[str, Any]) -> Vocabulary:
        specials = len(self.config.special_tokens)
        tokens = []
        for token_id, content in enumerate(contents):
            if token_id < specials:
                options = AddedTokenOptions(in_model_vocab=True)
                tokens.append(Token(token_id, content, TokenKind.SPECIAL, added=options))
            elif token_id == specials:
                tokens.append(Token(token_id, content, TokenKind.UNKNOWN))
            else:
                tokens.append(Token(token_id, content))
        digest = hashlib.sha256(stream.data.tobytes()).hexdigest()
        metadata = {
            "trainer": self.name, "config": asdict(self.config), "encoder": self.encoder,
            "lexkit_version": __version__, "corpus_sha256": digest, "model_size": len(tokens),
            "encoder_size": len(tokens), "num_merges": 0, "bytespan": info,
        }
        return Vocabulary(
            tokens=tuple(tokens), model="wordpiece",
            model_options={"unk_token": UNK, "continuing_subword_prefix": PREFIX.decode(),
                           "max_input_chars_per_word": MAX_INPUT_CHARS_PER_WORD},
            metadata=metadata, **self.config.components(),
        )
