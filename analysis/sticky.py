"""Sticky-token detection in text-embedding models (the Sticky Token Detector of Chen et al., ACL 2025).

A sticky token, inserted again and again into a sentence, pulls that sentence's similarity to unrelated
sentences toward the model's mean pairwise similarity μ; downstream tasks degrade when such tokens slip into
text. Paper: Kexin Chen, Dongxia Wang, Yi Liu, Haonan Zhang, Wenhai Wang, "Sticking to the Mean: Detecting
Sticky Tokens in Text Embedding Models", ACL 2025 (arXiv 2507.18171); reference code ``March-7/StickyToken``.

The pipeline follows the authors' code (the published lists come from it), quirks included, each behind a
`StickyConfig` option (``specs/sticky.md`` sections 3-4):

0. μ over the raw vocabulary strings embedded alone (`StickyTokenDetector.mean_similarity`).
1-3. sentence pairs spread over the similarity range, then pairs below μ picked by nearest target
   (`StickyTokenDetector.select_pairs`).
4. token filtering by a decode / re-encode round trip through lexkit's `Tokenizer`
   (`StickyTokenDetector.categorize_tokens`).
5. sticky score on the scoring pairs (`StickyTokenDetector.score`), 6. shortlist at the 98th percentile,
7. verification on more pairs (`StickyTokenDetector.verify`), 8. the final cut Q3 + 0.7 · IQR.

Speed without changing results: every distinct text is embedded once (the verification set repeats pairs),
E(s1), E(s2) and E(token alone) are cached, tokens are scored in chunks across tokens with length-sorted
batches (`TransformersEmbedder`), and all random insertion positions are drawn before any embedding, in
the plain loop's order, so batching never changes a draw. Computation returns dataclasses; rendering lives
in `lexkit.analysis.sticky_render`.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from lexkit.analysis.sticky_progress import RunEstimate, candidate_count, text_tokens, verify_texts_per_token
from lexkit.errors import LexkitError
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import TokenKind

logger = logging.getLogger(__name__)

METRICS = ("cos", "euc", "man")
MODES = ("prefix", "suffix", "random")
# (alpha, beta, gamma) of the score formula per distance (specs/sticky.md step 5).
SCORE_CONSTANTS = {"cos": (0.1, 0.05, 0.01), "euc": (0.1, 0.05, 0.01), "man": (1.0, 0.5, 0.1)}
LEADING_SPACE_MARKS = (" ", "\u2581", "_", "\u0120")
SENTINEL = "\u00ab"
DEFAULT_SPECIAL_ROLES = ("bos", "eos", "pad", "unk", "sep", "mask", "additional")
# (tokens, texts embedded, seconds, tokens left) of the first computed chunk of a stage
FirstChunk = Callable[[int, int, float, int], None]
_UNUSED = re.compile(r"^(\[unused\d+\]|<extra_id_\d+>|<unused\d+>|<\|reserved_special_token_\d+\|>|\[reserved\d*\])$")


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


class Embedder(Protocol):
    """What the detector needs from a model: texts in, one vector per text out."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float array ``(N, D)``, normalized as the model's pipeline does."""
        ...


@dataclass(frozen=True)
class StickyConfig:
    """Settings of the detector; the defaults are the paper's (all published runs used them).

    Attributes:
        sentences: sentences sampled from the pool in step 1 (1,000 in the paper).
        scoring_pairs: pairs for the sticky score (step 3, ``num = 5``).
        insertions: insertions per mode, k = 1..insertions (8).
        verification_pairs: pairs for verification (250).
        shortlist_percentile: candidates score at least this percentile of all scores (98).
        iqr_factor: the final cut is Q3 + iqr_factor · IQR of the candidates' verification values (0.7).
        pair_range: pairs come from [min, min + pair_range · (μ - min)] (0.8).
        mode_weights: verification weights of prefix, suffix, random (4/11, 4/11, 3/11).
        score_weights: score weights of prefix, suffix, random (0.35, 0.35, 0.30).
        insertion_separator: text between repeats in prefix/suffix mode; ``""`` is the authors' quirk.
        special_roles: roles whose tokens count as OK_SPECIAL; the authors' list leaves out ``cls``.
        allow_repeated_pairs: nearest-target pair selection may pick a pair twice (the authors' behaviour).
        mu_source: ``"raw_vocab"`` embeds the raw vocabulary strings (the paper); ``"decoded"`` embeds the
            decoded strings of the scored tokens.
        seed: seeds the sentence sample and the random insertions.
        seed_scope: ``"process"`` draws all insertion positions from one generator in plain-loop order (the
            authors'); ``"per_token"`` gives each token its own generator, so results do not depend on which
            other tokens are scored.
        chunk_tokens: tokens scored per embedding call in step 5 (verification uses an eighth, at least 1).
        max_tokens: score only the first N scorable tokens in id order (quick runs); None scores all.
        sample: score N scorable tokens drawn at random with ``seed`` (quick, representative runs); None
            scores all. Applied before ``max_tokens``.
    """

    sentences: int = 1000
    scoring_pairs: int = 5
    insertions: int = 8
    verification_pairs: int = 250
    shortlist_percentile: float = 98.0
    iqr_factor: float = 0.7
    pair_range: float = 0.8
    mode_weights: tuple[float, float, float] = (4 / 11, 4 / 11, 3 / 11)
    score_weights: tuple[float, float, float] = (0.35, 0.35, 0.30)
    insertion_separator: str = ""
    special_roles: tuple[str, ...] = DEFAULT_SPECIAL_ROLES
    allow_repeated_pairs: bool = True
    mu_source: Literal["raw_vocab", "decoded"] = "raw_vocab"
    seed: int = 42
    seed_scope: Literal["process", "per_token"] = "process"
    chunk_tokens: int = 64
    max_tokens: int | None = None
    sample: int | None = None

    def __post_init__(self) -> None:
        for name in ("sentences", "scoring_pairs", "insertions", "verification_pairs", "chunk_tokens"):
            if getattr(self, name) < 1:
                raise LexkitError(f"StickyConfig.{name}={getattr(self, name)} must be at least 1; "
                                  f"pass a positive {name}")
        if self.sentences < 3:
            raise LexkitError(f"StickyConfig.sentences={self.sentences} leaves too few pairs to choose from; "
                              "pass sentences >= 3 (the paper uses 1000)")
        if not 0 < self.shortlist_percentile < 100:
            raise LexkitError(f"shortlist_percentile={self.shortlist_percentile} is outside (0, 100); "
                              "pass e.g. 98.0 for the top 2 %")
        if not 0 < self.pair_range <= 1:
            raise LexkitError(f"pair_range={self.pair_range} is outside (0, 1]; pass e.g. 0.8")
        for name in ("mode_weights", "score_weights"):
            if len(getattr(self, name)) != len(MODES):
                raise LexkitError(f"StickyConfig.{name} has {len(getattr(self, name))} values, one per mode "
                                  f"{MODES} is needed; pass three weights")
        if self.seed_scope not in ("process", "per_token"):
            raise LexkitError(f"seed_scope={self.seed_scope!r} is unknown; pass 'process' or 'per_token'")
        if self.mu_source not in ("raw_vocab", "decoded"):
            raise LexkitError(f"mu_source={self.mu_source!r} is unknown; pass 'raw_vocab' or 'decoded'")
        for name in ("max_tokens", "sample"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise LexkitError(f"StickyConfig.{name}={getattr(self, name)} must be positive; "
                                  "pass None to score all tokens")


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
    """One row of the report's candidate and final tables (JSON schema of ``specs/sticky.md`` section 6)."""

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
    """Everything one detector run measured; render it with `lexkit.analysis.sticky_render`.

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


# ------------------------------------------------------------------------------------------------------------
# pure kernels: shapes in the docstrings, no model
def distances(anchor: np.ndarray, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Cosine, Euclidean and Manhattan distance between ``vectors (..., D)`` and ``anchor`` broadcast to them.

    Args:
        anchor: ``(..., D)``, broadcastable against ``vectors``.
        vectors: ``(..., D)``.

    Returns:
        ``{"cos": 1 - cosine, "euc": L2, "man": L1}``, each of the broadcast shape without ``D``.
    """
    anchor = np.asarray(anchor, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    dot = (anchor * vectors).sum(-1)
    norms = np.linalg.norm(anchor, axis=-1) * np.linalg.norm(vectors, axis=-1)
    diff = vectors - anchor
    return {"cos": 1.0 - dot / np.maximum(norms, 1e-12), "euc": np.linalg.norm(diff, axis=-1),
            "man": np.abs(diff).sum(-1)}


def pair_mode_scores(d0: np.ndarray, d: np.ndarray, token_distance: np.ndarray, *, alpha: float, beta: float,
                     gamma: float) -> np.ndarray:
    """The per-(pair, mode) sticky score of step 5.

    With Δ_k = d_k - d_(k-1): F sums |Δ_k| over falls, nF counts falls, R sums rises, nR counts rises, and
    score = (F + α·nF + α·tokdist) / (R + β·nR + γ).

    Args:
        d0: ``(...)`` distance of s1 and s2 before insertion.
        d: ``(..., K)`` distances after k = 1..K insertions.
        token_distance: ``(...)`` distance of the token alone to s1.
        alpha, beta, gamma: the constants of the distance in use.

    Returns:
        ``(...)`` scores.
    """
    d = np.asarray(d)
    start = np.broadcast_to(np.asarray(d0)[..., None], (*d.shape[:-1], 1))
    steps = np.diff(np.concatenate([start, d], axis=-1), axis=-1)
    falls = steps < 0
    rises = steps > 0
    fall = np.where(falls, -steps, 0.0).sum(-1)
    rise = np.where(rises, steps, 0.0).sum(-1)
    scores: np.ndarray = (fall + alpha * falls.sum(-1) + alpha * token_distance) / (rise + beta * rises.sum(-1) + gamma)
    return scores


def verification_successes(d0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Step 7's success test: the mean distance over k = 1..K fell below the distance before insertion.

    Args:
        d0: ``(...)``. d: ``(..., K)``.

    Returns:
        ``(...)`` booleans.
    """
    successes: np.ndarray = np.asarray(d).mean(-1) - d0 < 0
    return successes


def shortlist_threshold(scores: Sequence[float], percentile: float = 98.0) -> float:
    """The score at ``percentile`` (linear interpolation) of all scores; candidates score at least this."""
    if not len(scores):
        raise LexkitError("no token was scored, so there is no shortlist; check that the tokenizer has "
                          "tokens of category OK (categorize_tokens) and that max_tokens is not 0")
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile))


def final_cut(values: Sequence[float], iqr_factor: float = 0.7) -> FinalCut:
    """Step 8: Q1 and Q3 (linear percentiles) of the verification values and the cut Q3 + factor · IQR."""
    if not len(values):
        raise LexkitError("no candidate was verified, so the final cut is undefined; score at least one token "
                          "(check max_tokens and the token categories)")
    q1, q3 = (float(q) for q in np.percentile(np.asarray(values, dtype=np.float64), [25, 75]))
    return FinalCut(q1=q1, q3=q3, iqr=q3 - q1, cut=q3 + iqr_factor * (q3 - q1))


def insertion_texts(token: str, sentence: str, positions: Sequence[int], *,
                    separator: str = "") -> dict[str, list[str]]:
    """The K texts of each mode for one token and one sentence s2.

    prefix: the token k times, then s2; suffix: s2, then the token k times (joined by ``separator``, the
    authors' ``""``). random: the token inserted as a separate word at ``positions[k-1]`` of the growing
    word list of s2 (cumulative), re-joined with single spaces.

    Args:
        token: the inserted string. sentence: s2. positions: K insertion positions, drawn beforehand.
        separator: text between repeats and s2 in prefix/suffix mode.

    Returns:
        ``{"prefix": [...], "suffix": [...], "random": [...]}``, K texts each.
    """
    texts: dict[str, list[str]] = {"prefix": [], "suffix": [], "random": []}
    words = sentence.split()
    for k, position in enumerate(positions, start=1):
        repeated = separator.join([token] * k)
        texts["prefix"].append(repeated + separator + sentence)
        texts["suffix"].append(sentence + separator + repeated)
        words.insert(position, token)
        texts["random"].append(" ".join(words))
    return texts


def draw_positions(rng: random.Random, sentence: str, insertions: int) -> list[int]:
    """Random insertion positions for one (token, pair): the k-th is uniform over the k-th word list's gaps."""
    length = len(sentence.split())
    return [rng.randint(0, length + k) for k in range(insertions)]


# ------------------------------------------------------------------------------------------------------------
# token categories and kinds
def adds_leading_space(tokenizer: Tokenizer) -> bool:
    """Whether encoding ``"test"`` yields a first token that starts with a space mark (SentencePiece-like)."""
    ids = tokenizer.encode_ordinary("test")
    if not ids:
        return False
    first = tokenizer.vocabulary.tokens[ids[0]].content.decode("utf-8", errors="replace")
    return first.startswith(LEADING_SPACE_MARKS)


def special_ids(tokenizer: Tokenizer, roles: Iterable[str]) -> set[int]:
    """Ids of the tokenizer's specials that fill ``roles`` (bos, eos, pad, unk, sep, mask, cls, additional).

    Roles are the vocabulary's own (`Vocabulary.special_roles`, shared with transfer); a special or added token
    that plays no named role counts as ``additional``.
    """
    return tokenizer.vocabulary.special_roles().select(roles)


def token_kind(tokenizer: Tokenizer, token_id: int, text: str, *, leading_space: bool) -> str:
    """lexkit's descriptive kind of a token (``specs/sticky.md`` 6.1).

    ``special`` (a special token of the tokenizer, CLS included), ``unused`` (placeholders such as
    ``[unused3]`` or ``<extra_id_0>``), ``fragment`` (a continuation piece, a single non-letter character,
    or a piece that does not start a word), ``word`` (letters only, two or more, word-initial), else
    ``other`` (numbers, mixed pieces). ``leading_space`` is `adds_leading_space` of the tokenizer: for
    such tokenizers a word-initial piece starts with a space mark.
    """
    vocabulary = tokenizer.vocabulary
    token = vocabulary.tokens[token_id]
    if token.kind in (TokenKind.SPECIAL, TokenKind.UNKNOWN):
        return "special"
    stripped = text.strip()
    if _UNUSED.match(stripped) or token.kind == TokenKind.UNUSED:
        return "unused"
    if vocabulary.model == "wordpiece":
        prefix = str(vocabulary.model_options.get("continuing_subword_prefix", "##"))
        word_initial = not text.startswith(prefix)
    else:
        word_initial = text.startswith(LEADING_SPACE_MARKS) or not leading_space
    if not word_initial or (len(stripped) == 1 and not stripped.isalpha()):
        return "fragment"
    if len(stripped) >= 2 and stripped.isalpha():
        return "word"
    return "other"


def categorize(tokenizer: Tokenizer, *, special_roles: Iterable[str] = DEFAULT_SPECIAL_ROLES,
               token_ids: Iterable[int] | None = None) -> dict[int, TokenInfo]:
    """Step 4: decode each id alone, re-encode, and sort it into a `Category` (magikarp's rules).

    Reachable means ``encode(decode([id])) == [id]`` with the tokenizer's own specials allowed. Tokenizers
    that add a leading space get a sentinel (``«``) before encoding, whose ids are removed afterwards.

    Args:
        tokenizer: a lexkit tokenizer (e.g. ``Tokenizer.load(folder / "tokenizer.json")``).
        special_roles: roles counted as OK_SPECIAL (the authors leave out ``cls``).
        token_ids: ids to examine (default: every id).

    Returns:
        ``{token_id: TokenInfo}`` in id order.
    """
    vocabulary = tokenizer.vocabulary
    ids = list(range(len(vocabulary))) if token_ids is None else list(token_ids)
    sentinel = adds_leading_space(tokenizer)
    sentinel_ids = tokenizer.encode_ordinary(SENTINEL) if sentinel else []
    texts = [_decode_for_insertion(tokenizer, i, sentinel, sentinel_ids) for i in ids]
    encoded = _reencode(tokenizer, [SENTINEL + t if sentinel else t for t in texts])
    if sentinel:
        encoded = [e[len(sentinel_ids):] if e[:len(sentinel_ids)] == sentinel_ids else e for e in encoded]
    chosen_specials = special_ids(tokenizer, special_roles)
    raw = _raw_strings(tokenizer)
    result = {}
    for token_id, text, reencoded in zip(ids, texts, encoded):
        category = _category(token_id, text, reencoded, chosen_specials)
        result[token_id] = TokenInfo(token_id=token_id, text=text, raw=raw.get(token_id, text), category=category,
                                     kind=token_kind(tokenizer, token_id, text, leading_space=sentinel))
    return result


def _decode_for_insertion(tokenizer: Tokenizer, token_id: int, sentinel: bool, sentinel_ids: list[int]) -> str:
    if not sentinel:
        return tokenizer.decode([token_id])
    # subtle: decoding after the sentinel keeps the token's leading space, which a lone decode would strip.
    prefix = tokenizer.decode(sentinel_ids)
    text = tokenizer.decode([*sentinel_ids, token_id])
    return text[len(prefix):] if text.startswith(prefix) else tokenizer.decode([token_id])


def _reencode(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Encode with the tokenizer's specials allowed; only texts holding a special's name take the slow path."""
    specials = tokenizer.vocabulary.special_tokens
    if not specials:
        return tokenizer.encode_batch(texts)
    pattern = re.compile("|".join(re.escape(name) for name in sorted(specials, key=len, reverse=True)))
    plain = [i for i, t in enumerate(texts) if not pattern.search(t)]
    out: list[list[int]] = [[] for _ in texts]
    for i, ids in zip(plain, tokenizer.encode_batch([texts[i] for i in plain], disallowed_special=())):
        out[i] = ids
    for i in set(range(len(texts))) - set(plain):
        out[i] = tokenizer.encode(texts[i], allowed_special="all")
    return out


def _category(token_id: int, text: str, reencoded: list[int], specials: set[int]) -> Category:
    if not text.strip():
        return Category.MEANINGLESS
    if reencoded == [token_id]:
        return Category.OK_SPECIAL if token_id in specials else Category.OK
    if (len(text) >= 3 and text[0] in "[<" and text[-1] in "]>" and any(c.isalpha() for c in text)):
        return Category.UNREACHABLE_SPECIAL
    if "\ufffd" in text:
        return Category.UNDECODEABLE
    return Category.UNREACHABLE_SINGLE_TOKEN if len(reencoded) == 1 else Category.UNREACHABLE_MULTI_TOKEN


def _raw_strings(tokenizer: Tokenizer) -> dict[int, str]:
    """The HF surface string of every id (``##ing``, ``Ġthe``, ``▁the``), from lexkit's exporter."""
    from lexkit.formats.hf import to_hf

    data = to_hf(tokenizer.vocabulary, allow_lossy=True)
    vocab = data["model"]["vocab"]
    entries = {int(i): str(s) for s, i in vocab.items()} if isinstance(vocab, dict) else {
        i: str(entry[0]) for i, entry in enumerate(vocab)}
    for added in data.get("added_tokens") or ():
        entries.setdefault(int(added["id"]), str(added["content"]))
    return entries


def raw_vocab_strings(tokenizer: Tokenizer) -> list[str]:
    """The raw strings of the base vocabulary (added tokens excluded), the texts μ is measured on."""
    from lexkit.formats.hf import to_hf

    vocab = to_hf(tokenizer.vocabulary, allow_lossy=True)["model"]["vocab"]
    if isinstance(vocab, dict):
        return [s for s, _ in sorted(vocab.items(), key=lambda item: item[1])]
    return [str(entry[0]) for entry in vocab]


# ------------------------------------------------------------------------------------------------------------
# sentences and pairs
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]*[.,;:!?\"')]*$")


def split_sentences(text: str, *, min_words: int = 5, max_words: int = 40) -> list[str]:
    """Prose sentences of ``min_words``-``max_words`` words from ``text`` (code, tables and lists dropped).

    A sentence starts with a capital letter, ends with ``.``, ``!`` or ``?``, and at least 80 % of its words
    are ordinary words (letters with trailing punctuation), which keeps prose and drops code and markup.

    Args:
        text: any text; paragraphs are separated by blank lines.
        min_words, max_words: the length window (the spec's 5-40).

    Returns:
        Sentences with whitespace collapsed, in text order (duplicates kept).
    """
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        for sentence in _SENTENCE_END.split(flat):
            words = sentence.split()
            if not (min_words <= len(words) <= max_words) or not sentence[:1].isupper():
                continue
            if not sentence.endswith((".", "!", "?")):
                continue
            if sum(bool(_WORD.match(w)) for w in words) >= 0.8 * len(words):
                sentences.append(sentence)
    return sentences


def sample_sentences(sentences: Iterable[str], count: int, seed: int) -> list[str]:
    """De-duplicate, sort (so the sample does not depend on hash order) and sample ``count`` without
    replacement with ``numpy.random.default_rng(seed)``; fewer when the pool is smaller."""
    pool = sorted(set(sentences))
    if len(pool) < 3:
        raise LexkitError(f"only {len(pool)} distinct sentences were found, too few to form pairs; pass a larger "
                          "corpus or sentence file (one sentence per line), e.g. --sentences FILE")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pool[i] for i in picked]


def spread_pairs(similarity: np.ndarray, count: int) -> list[tuple[int, int, float]]:
    """Step 2: ``count`` pairs (i < j) spread evenly over the similarity range, nearest not-yet-taken pair per
    target (targets min + i · (max - min) / (count - 1)).

    Args:
        similarity: ``(N, N)`` symmetric similarity matrix of the sampled sentences.
        count: how many pairs.

    Returns:
        ``[(i, j, similarity)]`` in target order.
    """
    rows, cols = np.triu_indices(similarity.shape[0], k=1)
    values = similarity[rows, cols].astype(np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    taken = np.zeros(len(values), dtype=bool)
    count = min(count, len(values))
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    targets = [low + i * (high - low) / max(count - 1, 1) for i in range(count)]
    chosen = []
    for target in targets:
        position = _nearest_free(sorted_values, taken, target)
        taken[position] = True
        pair = order[position]
        chosen.append((int(rows[pair]), int(cols[pair]), float(values[pair])))
    return chosen


def _nearest_free(sorted_values: np.ndarray, taken: np.ndarray, target: float) -> int:
    """Index of the untaken value nearest ``target`` in ascending ``sorted_values`` (lower one on ties)."""
    right = int(np.searchsorted(sorted_values, target))
    left = right - 1
    while left >= 0 and taken[left]:
        left -= 1
    while right < len(sorted_values) and taken[right]:
        right += 1
    if left < 0:
        return right
    if right >= len(sorted_values):
        return left
    return left if target - sorted_values[left] <= sorted_values[right] - target else right


def pick_below_mean(pairs: Sequence[SentencePair], mean: float, count: int, *, pair_range: float = 0.8,
                    allow_repeats: bool = True) -> tuple[list[SentencePair], float, float]:
    """Step 3: pairs below μ in [min, min + pair_range · (μ - min)], the nearest one to each of ``count``
    evenly spaced targets (repeats allowed unless ``allow_repeats`` is False).

    Returns:
        (pairs, low, high).

    Raises:
        LexkitError: no pair lies below μ.
    """
    below = [p for p in pairs if p.similarity < mean]
    if not below:
        raise LexkitError(f"no sentence pair has a similarity below the mean similarity {mean:.4f}, so no pair "
                          "can show stickiness; pass more or more varied sentences (e.g. --sentences FILE)")
    low = min(p.similarity for p in below)
    high = low + pair_range * (mean - low)
    eligible = sorted((p for p in below if p.similarity <= high), key=lambda p: p.similarity)
    values = np.array([p.similarity for p in eligible])
    taken = np.zeros(len(eligible), dtype=bool)
    chosen = []
    for target in np.linspace(low, high, count):
        if allow_repeats:
            position = int(np.argmin(np.abs(values - target)))
        else:
            if taken.all():
                break
            position = _nearest_free(values, taken, float(target))
            taken[position] = True
        chosen.append(eligible[position])
    return chosen, low, high


def read_pairs_csv(path: str | Path) -> list[tuple[str, str]]:
    """Read the authors' ``sampled_sentence_pairs.csv`` (columns ``sentence1`` and ``sentence2``).

    Raises:
        LexkitError: the file is missing or lacks the two columns.
    """
    import csv

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise LexkitError(f"{path}: cannot read the pairs file ({exc.strerror}); pass an existing CSV") from None
    if not rows or not {"sentence1", "sentence2"} <= set(rows[0]):
        raise LexkitError(f"{path}: no 'sentence1' and 'sentence2' columns (found {sorted(rows[0]) if rows else []});"
                          " pass the authors' sampled_sentence_pairs.csv or a CSV with those two columns")
    return [(row["sentence1"], row["sentence2"]) for row in rows]


# ------------------------------------------------------------------------------------------------------------
# the detector
class StickyTokenDetector:
    """The Sticky Token Detector pipeline over one embedding model and its tokenizer.

    Args:
        embedder: turns texts into vectors (`TransformersEmbedder` for a checkpoint folder; any object with
            ``encode(texts) -> (N, D)`` works, which is how the tests plant a sticky token).
        tokenizer: the model's tokenizer as a lexkit `Tokenizer`; token filtering and kinds use it.
        config: the settings (paper defaults).
        raw_vocab: the raw base-vocabulary strings for μ (default: from the tokenizer's HF export).
        progress: show tqdm progress bars.
        model_name: a label for the report.
        on_estimate: called once per `run` with the `RunEstimate` from the first timed batch (the CLI prints
            it); the estimate is also logged at INFO.

    Typical use: ``embedder = TransformersEmbedder(folder)``, then
    ``StickyTokenDetector(embedder, Tokenizer.load(embedder.tokenizer_file),
    raw_vocab=embedder.base_vocab_strings()).run(sentences=split_sentences(text))``.
    """

    def __init__(self, embedder: Embedder, tokenizer: Tokenizer, config: StickyConfig | None = None, *,
                 raw_vocab: Sequence[str] | None = None, progress: bool = True, model_name: str = "model",
                 on_estimate: Callable[[RunEstimate], None] | None = None) -> None:
        self.embedder = embedder
        self.on_estimate = on_estimate
        self.estimate: RunEstimate | None = None
        self.tokenizer = tokenizer
        self.config = config or StickyConfig()
        self.progress = progress
        self.model_name = model_name
        self._raw_vocab = list(raw_vocab) if raw_vocab is not None else None
        self._rng = random.Random(self.config.seed)
        self._tokens: dict[int, TokenInfo] | None = None
        self.texts_embedded: Counter[str] = Counter()

    # -- step 0 ---------------------------------------------------------------------------------------------
    def mean_similarity(self) -> SimilarityStats:
        """Step 0: μ, median and std of the cosine similarity over all ordered pairs of the vocabulary
        strings embedded alone (``mu_source``)."""
        if self.config.mu_source == "raw_vocab":
            texts = self._raw_vocab if self._raw_vocab is not None else raw_vocab_strings(self.tokenizer)
        else:
            texts = [t.text for t in self.categorize_tokens().values() if t.category.scored]
        vectors = self._embed(texts, "mu")
        return similarity_stats(vectors)

    # -- steps 1-3 ------------------------------------------------------------------------------------------
    def select_pairs(self, *, mean: float, sentences: Sequence[str] | None = None,
                     pairs: Sequence[tuple[str, str]] | None = None, source: str = "") -> PairSets:
        """Steps 1-3: sample sentences, spread pairs over the similarity range, pick pairs below ``mean``.

        Args:
            mean: μ from `mean_similarity`.
            sentences: a sentence pool (sampled down to ``config.sentences``).
            pairs: ready pairs ``(sentence1, sentence2)`` such as the authors' CSV (steps 1-2 skipped).
            source: a description of where the sentences came from, for the report.

        Returns:
            The scoring and verification pairs.

        Raises:
            LexkitError: neither or both of ``sentences`` and ``pairs`` given, or too few sentences.
        """
        config = self.config
        if (sentences is None) == (pairs is None):
            raise LexkitError("select_pairs needs exactly one of sentences= (a pool to sample from) or pairs= "
                              "(e.g. read_pairs_csv(path)); pass one of them")
        if pairs is not None:
            first = [a for a, _ in pairs]
            second = [b for _, b in pairs]
            vectors = self._embed(first + second, "pairs")
            sims = 1.0 - distances(vectors[:len(first)], vectors[len(first):])["cos"]
            spread = [SentencePair(a, b, float(s)) for a, b, s in zip(first, second, sims)]
            comparable = True
        else:
            assert sentences is not None
            sample = sample_sentences(sentences, config.sentences, config.seed)
            vectors = self._embed(sample, "pairs")
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            chosen = spread_pairs(unit @ unit.T, config.sentences)
            spread = [SentencePair(sample[i], sample[j], s) for i, j, s in chosen]
            comparable = False
        scoring, low, high = pick_below_mean(spread, mean, config.scoring_pairs, pair_range=config.pair_range,
                                             allow_repeats=config.allow_repeated_pairs)
        verification, _, _ = pick_below_mean(spread, mean, config.verification_pairs, pair_range=config.pair_range,
                                             allow_repeats=config.allow_repeated_pairs)
        return PairSets(scoring=tuple(scoring), verification=tuple(verification), spread_pairs=len(spread),
                        low=low, high=high, source=source, comparable=comparable)

    # -- step 4 ---------------------------------------------------------------------------------------------
    def categorize_tokens(self) -> dict[int, TokenInfo]:
        """Step 4 over the whole vocabulary (cached); see `categorize`."""
        if self._tokens is None:
            self._tokens = categorize(self.tokenizer, special_roles=self.config.special_roles)
        return self._tokens

    def scorable_tokens(self) -> list[TokenInfo]:
        """Tokens of category OK or OK_SPECIAL in id order, sampled (``config.sample``) and cut
        (``config.max_tokens``)."""
        tokens = [t for t in self.categorize_tokens().values() if t.category.scored]
        if self.config.sample is not None and self.config.sample < len(tokens):
            picked = np.random.default_rng(self.config.seed).choice(len(tokens), self.config.sample, replace=False)
            tokens = [tokens[i] for i in sorted(picked)]
        return tokens[:self.config.max_tokens] if self.config.max_tokens else tokens

    # -- steps 5 and 7 --------------------------------------------------------------------------------------
    def score(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], *,
              checkpoint: Path | None = None, on_first_chunk: FirstChunk | None = None) -> dict[int, ScoreRow]:
        """Step 5: the sticky score of each token on the scoring pairs, for the three distances.

        Args:
            tokens: the tokens (from `scorable_tokens`). pairs: the scoring pairs.
            checkpoint: a JSON-lines file; finished chunks are appended and reused by a rerun with the same
                model, precision, configuration and pairs.
            on_first_chunk: called after the first computed chunk with (tokens, texts embedded, seconds,
                tokens left); `run` turns it into the time estimate.

        Returns:
            ``{token_id: ScoreRow}``.
        """
        positions = self._draw("score", tokens, pairs)
        d0, anchors = self._pair_baseline(pairs)
        alone = self._embed([t.text for t in tokens], "score")
        token_distance = distances(anchors[None], alone[:, None])  # per metric (T, P)

        def compute(chunk: range) -> dict[int, dict[str, float]]:
            d = self._insertion_distances([tokens[i] for i in chunk], pairs, [positions[i] for i in chunk],
                                          anchors, "score")
            rows: dict[int, dict[str, float]] = {}
            for metric, (alpha, beta, gamma) in SCORE_CONSTANTS.items():
                per_mode = pair_mode_scores(d0[metric][None, :, None], d[metric],
                                            token_distance[metric][list(chunk)][:, :, None],
                                            alpha=alpha, beta=beta, gamma=gamma)  # (T, P, M)
                values = (per_mode * np.asarray(self.config.score_weights)).sum(-1).mean(-1)
                for offset, i in enumerate(chunk):
                    rows.setdefault(tokens[i].token_id, {})[metric] = float(values[offset])
            return rows

        rows = self._run_chunks("score", tokens, pairs, self.config.chunk_tokens, compute, checkpoint,
                                on_first_chunk)
        return {tid: ScoreRow(token_id=tid, **values) for tid, values in rows.items()}

    def verify(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], *,
               checkpoint: Path | None = None, on_first_chunk: FirstChunk | None = None
               ) -> dict[int, VerificationRow]:
        """Step 7: the weighted share of (pair, mode) cases where the mean distance after insertion fell.

        Args:
            tokens: the candidates. pairs: the verification pairs (repeats allowed; their prefix and suffix
                texts are embedded once, random insertions are drawn per occurrence).
            checkpoint, on_first_chunk: as in `score`.

        Returns:
            ``{token_id: VerificationRow}``.
        """
        positions = self._draw("verify", tokens, pairs)
        d0, anchors = self._pair_baseline(pairs)
        weights = np.asarray(self.config.mode_weights)

        def compute(chunk: range) -> dict[int, dict[str, float]]:
            d = self._insertion_distances([tokens[i] for i in chunk], pairs, [positions[i] for i in chunk],
                                          anchors, "verify")
            rows: dict[int, dict[str, float]] = {}
            for metric in METRICS:
                success = verification_successes(d0[metric][None, :, None], d[metric])  # (T, P, M)
                values = (success * weights).sum(-1).sum(-1) / len(pairs)
                for offset, i in enumerate(chunk):
                    rows.setdefault(tokens[i].token_id, {})[metric] = float(values[offset])
            return rows

        rows = self._run_chunks("verify", tokens, pairs, max(1, self.config.chunk_tokens // 8), compute, checkpoint,
                                on_first_chunk)
        return {tid: VerificationRow(token_id=tid, **values) for tid, values in rows.items()}

    # -- everything -----------------------------------------------------------------------------------------
    def run(self, *, sentences: Sequence[str] | None = None, pairs: Sequence[tuple[str, str]] | None = None,
            source: str = "", checkpoint_dir: Path | None = None) -> StickyTokenReport:
        """Steps 0-8: μ, pairs, filtering, scores, shortlist, verification and the final cut, with timings.

        Args:
            sentences, pairs, source: see `select_pairs`.
            checkpoint_dir: a folder for resumable partial results (``scores.jsonl``, ``verification.jsonl``);
                a rerun with the same model, precision, configuration and pairs skips what it holds.

        Returns:
            The report.
        """
        config = self.config
        timings: dict[str, float] = {}
        self.estimate = None
        start = clock = time.perf_counter()
        stats = self.mean_similarity()
        timings["mean_similarity"] = time.perf_counter() - clock
        clock = time.perf_counter()
        pair_sets = self.select_pairs(mean=stats.mean, sentences=sentences, pairs=pairs, source=source)
        timings["pairs"] = time.perf_counter() - clock
        clock = time.perf_counter()
        infos = self.categorize_tokens()
        tokens = self.scorable_tokens()
        timings["categorize"] = time.perf_counter() - clock
        logger.info("mu=%.4f; %d tokens to score on %d pairs", stats.mean, len(tokens), len(pair_sets.scoring))
        clock = time.perf_counter()
        if checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
        verify_checkpoint = checkpoint_dir / "verification.jsonl" if checkpoint_dir else None
        verified_before = (len(_load_checkpoint(verify_checkpoint, self._fingerprint("verify", pair_sets.verification)))
                           if verify_checkpoint else 0)
        candidates_left = max(candidate_count(len(tokens), config.shortlist_percentile) - verified_before, 0)
        per_candidate = verify_texts_per_token([p.s2 for p in pair_sets.verification], config.insertions)
        verify_cost = (self._text_tokens(pair_sets.verification) / self._text_tokens(pair_sets.scoring)
                       if pair_sets.scoring else 1.0)

        def first_score_chunk(done: int, texts: int, seconds: float, left: int) -> None:
            self._announce(RunEstimate("score", done, texts, seconds, round(texts / done * left),
                                       candidates_left * per_candidate, time.perf_counter() - start, verify_cost))

        def first_verify_chunk(done: int, texts: int, seconds: float, left: int) -> None:
            if self.estimate is None:  # every score came from the checkpoint
                self._announce(RunEstimate("verify", done, texts, seconds, 0, round(texts / done * left),
                                           time.perf_counter() - start))

        scores = self.score(tokens, pair_sets.scoring,
                            checkpoint=checkpoint_dir / "scores.jsonl" if checkpoint_dir else None,
                            on_first_chunk=first_score_chunk)
        timings["score"] = time.perf_counter() - clock
        threshold = shortlist_threshold([scores[t.token_id].cos for t in tokens], config.shortlist_percentile)
        shortlisted = [t for t in tokens if scores[t.token_id].cos >= threshold]
        clock = time.perf_counter()
        verified = self.verify(shortlisted, pair_sets.verification, checkpoint=verify_checkpoint,
                               on_first_chunk=first_verify_chunk)
        timings["verify"] = time.perf_counter() - clock
        cut = final_cut([verified[t.token_id].cos for t in shortlisted], config.iqr_factor)
        candidates = rank_entries(shortlisted, scores, verified)
        final = [e for e in candidates if e.verification["cos"] > cut.cut]
        final = [StickyEntry(**{**asdict(e), "rank": rank}) for rank, e in enumerate(final, start=1)]
        timings["total"] = sum(timings.values())
        notes = [] if pair_sets.comparable else [
            "pairs not comparable to the paper's: sampled from " + (source or "a user-supplied sentence pool")]
        return StickyTokenReport(
            model=self.model_name, mean_similarity=stats,
            category_counts=dict(sorted(Counter(t.category.value for t in infos.values()).items())),
            kind_counts=dict(sorted(Counter(t.kind for t in tokens).items())), scored=len(tokens),
            threshold=threshold, candidates=candidates, cut=cut, final=final,
            pairs={"source": pair_sets.source, "comparable": pair_sets.comparable,
                   "spread_pairs": pair_sets.spread_pairs, "low": pair_sets.low, "high": pair_sets.high,
                   "scoring": len(pair_sets.scoring), "verification": len(pair_sets.verification),
                   "distinct_verification": len(set(pair_sets.verification))},
            timings={k: round(v, 3) for k, v in timings.items()}, texts_embedded=dict(self.texts_embedded),
            config=asdict(config), device=str(getattr(self.embedder, "device", "cpu")), notes=notes,
            precision=self._precision(), estimate=self.estimate.to_json() if self.estimate else {})

    # -- internals ------------------------------------------------------------------------------------------
    def _announce(self, estimate: RunEstimate) -> None:
        self.estimate = estimate
        logger.info("sticky: %s", estimate.describe())
        if self.on_estimate is not None:
            self.on_estimate(estimate)

    def _text_tokens(self, pairs: Sequence[SentencePair]) -> float:
        """Mean tokens of the insertion texts built on ``pairs`` (see `text_tokens`)."""
        return text_tokens([len(self.tokenizer.encode_ordinary(p.s2)) for p in pairs], self.config.insertions)

    def _precision(self) -> str:
        return str(getattr(self.embedder, "precision", "fp32"))

    def _embed(self, texts: Sequence[str], stage: str) -> np.ndarray:
        self.texts_embedded[stage] += len(texts)
        return np.asarray(self.embedder.encode(list(texts)), dtype=np.float32)

    def _draw(self, stage: str, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair]) -> list[list[list[int]]]:
        """Insertion positions ``[token][pair][k]``, drawn in plain-loop order before anything is embedded."""
        out = []
        for token in tokens:
            rng = (self._rng if self.config.seed_scope == "process"
                   else random.Random(f"{self.config.seed}/{stage}/{token.token_id}"))
            out.append([draw_positions(rng, pair.s2, self.config.insertions) for pair in pairs])
        return out

    def _pair_baseline(self, pairs: Sequence[SentencePair]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distances d0 (per metric, ``(P,)``) and the s1 embeddings ``(P, D)``; distinct sentences embedded once."""
        texts = sorted({p.s1 for p in pairs} | {p.s2 for p in pairs})
        lookup = dict(zip(texts, self._embed(texts, "pairs")))
        anchors = np.stack([lookup[p.s1] for p in pairs])
        return distances(anchors, np.stack([lookup[p.s2] for p in pairs])), anchors

    def _insertion_distances(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair],
                             positions: Sequence[Sequence[Sequence[int]]], anchors: np.ndarray,
                             stage: str) -> dict[str, np.ndarray]:
        """Distances ``(T, P, M, K)`` per metric of s1 to the insertion texts of a chunk of tokens."""
        index: dict[str, int] = {}
        slots = np.empty((len(tokens), len(pairs), len(MODES), self.config.insertions), dtype=np.int64)
        for t, token in enumerate(tokens):
            for p, pair in enumerate(pairs):
                texts = insertion_texts(token.text, pair.s2, positions[t][p],
                                        separator=self.config.insertion_separator)
                for m, mode in enumerate(MODES):
                    for k, text in enumerate(texts[mode]):
                        slots[t, p, m, k] = index.setdefault(text, len(index))
        vectors = self._embed(list(index), stage)
        return distances(anchors[None, :, None, None, :], vectors[slots])

    def _run_chunks(self, stage: str, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], size: int,
                    compute: Callable[[range], dict[int, dict[str, float]]], checkpoint: Path | None,
                    on_first_chunk: FirstChunk | None = None) -> dict[int, dict[str, float]]:
        """Run ``compute`` over chunks of ``tokens`` with a progress bar, resuming from ``checkpoint``; the first
        computed chunk is timed for ``on_first_chunk``."""
        from tqdm.auto import tqdm

        done = _load_checkpoint(checkpoint, self._fingerprint(stage, pairs)) if checkpoint else {}
        todo = [i for i, t in enumerate(tokens) if t.token_id not in done]
        rows = {t.token_id: done[t.token_id] for t in tokens if t.token_id in done}
        with tqdm(total=len(tokens), initial=len(tokens) - len(todo), desc=f"sticky {stage}", unit="tok",
                  disable=not self.progress) as bar:
            left = len(todo)
            for chunk in _chunks(todo, size):
                texts, clock = self.texts_embedded[stage], time.perf_counter()
                new = compute(chunk)
                left -= len(chunk)
                if on_first_chunk is not None:
                    on_first_chunk(len(chunk), self.texts_embedded[stage] - texts, time.perf_counter() - clock, left)
                    on_first_chunk = None
                rows.update(new)
                if checkpoint is not None:
                    _append_checkpoint(checkpoint, self._fingerprint(stage, pairs), new)
                bar.update(len(chunk))
        return rows

    def _fingerprint(self, stage: str, pairs: Sequence[SentencePair]) -> str:
        payload = json.dumps([stage, self.model_name, self._precision(), asdict(self.config),
                              [asdict(p) for p in pairs]], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _chunks(indices: Sequence[int], size: int) -> Iterator[range]:
    """Consecutive runs of ``indices`` (which are sorted) of at most ``size``, as ranges of token positions."""
    start = 0
    while start < len(indices):
        stop = start + 1
        while stop < len(indices) and stop - start < size and indices[stop] == indices[stop - 1] + 1:
            stop += 1
        yield range(indices[start], indices[stop - 1] + 1)
        start = stop


def _load_checkpoint(path: Path, fingerprint: str) -> dict[int, dict[str, float]]:
    if not path.exists():
        return {}
    rows: dict[int, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s: ignoring a truncated line (an interrupted write)", path)
                continue
            if record.get("fingerprint") == fingerprint:
                rows[int(record["token_id"])] = {m: float(record[m]) for m in METRICS}
    logger.info("%s: resuming with %d finished tokens", path, len(rows))
    return rows


def _append_checkpoint(path: Path, fingerprint: str, rows: Mapping[int, Mapping[str, float]]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for token_id, values in rows.items():
            handle.write(json.dumps({"fingerprint": fingerprint, "token_id": token_id, **values}) + "\n")


def similarity_stats(vectors: np.ndarray, *, block: int = 2048) -> SimilarityStats:
    """Mean, median (histogram, bin 1e-4) and std of the cosine similarity over all ordered pairs of ``vectors
    (N, D)``, self-pairs included, computed block by block without the ``(N, N)`` matrix."""
    unit = vectors.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    n = len(unit)
    total = unit.sum(0)
    mean = float(total @ total) / (n * n)
    squares = 0.0
    bins = np.zeros(20001, dtype=np.int64)
    for start in range(0, n, block):
        sims = unit[start:start + block] @ unit.T
        squares += float((sims * sims).sum())
        bins += np.bincount(np.clip(np.rint((sims.ravel() + 1.0) * 1e4), 0, 20000).astype(np.int64),
                            minlength=20001)
    cumulative = np.cumsum(bins)
    median = float(np.searchsorted(cumulative, (n * n) / 2.0)) / 1e4 - 1.0
    return SimilarityStats(mean=mean, median=median, std=math.sqrt(max(squares / (n * n) - mean * mean, 0.0)),
                           count=n)


def rank_entries(tokens: Sequence[TokenInfo], scores: Mapping[int, ScoreRow],
                 verified: Mapping[int, VerificationRow]) -> list[StickyEntry]:
    """Report rows for ``tokens``, best cosine verification first (ties: higher score first, then id)."""
    ordered = sorted(tokens, key=lambda t: (-verified[t.token_id].cos, -scores[t.token_id].cos, t.token_id))
    return [StickyEntry(token_id=t.token_id, token=t.text, raw=t.raw, category=t.category.value, kind=t.kind,
                        score=scores[t.token_id].cos, score_euclidean=scores[t.token_id].euc,
                        score_manhattan=scores[t.token_id].man,
                        verification={m: getattr(verified[t.token_id], m) for m in METRICS}, rank=rank)
            for rank, t in enumerate(ordered, start=1)]
